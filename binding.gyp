{
  "targets": [
    {
      # Node-API addon: build/Release/tsss_native.node
      "target_name": "tsss_native",
      "sources": ["native/src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-Wall", "-Wextra", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"],
      "cflags_cc": ["-fno-exceptions"],
      "ldflags": ["-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack"]
    },
    {
      # Static helper that outlives the mediator: build/Release/tsss-reaper
      "target_name": "tsss-reaper",
      "type": "executable",
      "sources": ["native/src/reaper.c"],
      "cflags": [
        "-std=gnu11", "-Wall", "-Wextra",
        "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"
      ],
      "configurations": {
        "Release": { "cflags!": ["-O3"], "cflags": ["-O2"] }
      },
      # common.gypi adds -rdynamic (for addons) and -pthread; neither belongs in
      # a small static program.
      "cflags!": ["-pthread"],
      "ldflags!": ["-rdynamic", "-pthread"],
      "ldflags": ["-static", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack"]
    }
  ]
}
