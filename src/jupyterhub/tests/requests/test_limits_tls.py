"""mem_limit -> "limits": {"data": BYTES}; mem_limit and cpu_limit -> "cgroup": {"MemoryMax",
"CPUQuota"}; and internal_ssl -> "tls": {key, cert, ca}."""

import pytest
from certipy import Certipy

from ts_sudospawner import MediatorError
from ts_sudospawner.limits import cpu_quota_percent, request_cgroup, request_limits
from ts_sudospawner.tls import MAX_PEM_BYTES, check_pem


def test_request_limits():
    assert request_limits(None) == {}
    assert request_limits(0) == {}
    assert request_limits(2 * 1024**3) == {"data": 2147483648}


def test_request_cgroup_sends_only_what_is_set():
    assert request_cgroup(None, None) == {}
    assert request_cgroup(0, 0.0) == {}
    assert request_cgroup(2 * 1024**3, None) == {"MemoryMax": 2147483648}
    assert request_cgroup(None, 1.5) == {"CPUQuota": 150}
    assert request_cgroup(512 * 1024**2, 2) == {"MemoryMax": 536870912, "CPUQuota": 200}
    assert request_cgroup(None, float("inf")) == {}


def test_cpu_quota_is_percent_of_one_cpu_rounded_up():
    assert cpu_quota_percent(1.0) == 100
    assert cpu_quota_percent(0.5) == 50
    assert cpu_quota_percent(1.005) == 101  # rounded up, never more than asked is given away
    assert cpu_quota_percent(0.07) == 7  # 0.07 * 100 == 7.000000000000001 in floating point
    assert cpu_quota_percent(0.001) == 1  # never 0, which systemd would read as no CPU at all


async def test_mem_limit_becomes_the_data_limit(make_spawner, fake):
    spawner = make_spawner(mem_limit="2G")
    await spawner.start()
    [spawn] = fake.requests("spawn")
    assert spawn["limits"] == {"data": 2 * 1024**3}
    assert spawn["cgroup"] == {"MemoryMax": 2 * 1024**3}  # no cpu_limit: no CPUQuota
    assert spawn["env"]["MEM_LIMIT"] == str(2 * 1024**3)  # as JupyterHub passes it on
    await spawner.stop(now=True)


async def test_mem_and_cpu_limit_become_the_cgroup_caps(make_spawner, fake):
    spawner = make_spawner(mem_limit="1G", cpu_limit=1.5)
    await spawner.start()
    [spawn] = fake.requests("spawn")
    assert spawn["cgroup"] == {"MemoryMax": 1024**3, "CPUQuota": 150}
    assert spawn["limits"] == {"data": 1024**3}
    await spawner.stop(now=True)


async def test_without_limits_no_cgroup_is_sent(make_spawner, fake):
    spawner = make_spawner()
    await spawner.start()
    [spawn] = fake.requests("spawn")
    assert "cgroup" not in spawn and "limits" not in spawn
    await spawner.stop(now=True)


@pytest.fixture
def hub_certs(tmp_path):
    """A CA and JupyterHub's own create_certs(), as the hub does for internal_ssl."""
    location = tmp_path / "internal-ssl"
    ca = Certipy(store_dir=str(location)).create_ca("notebooks-ca")
    return {"location": str(location), "bundles": {"notebooks-ca": ca["files"]["cert"]}}


async def test_internal_ssl_sends_the_pem_text(make_spawner, fake, hub_certs):
    spawner = make_spawner("j.doe")
    spawner.internal_ssl = True
    spawner.internal_certs_location = hub_certs["location"]
    spawner.internal_trust_bundles = hub_certs["bundles"]
    # JupyterHub's sequence (user.py): create_certs, move_certs, then start.
    hub_paths = await spawner.create_certs()
    spawner.cert_paths = await spawner.move_certs(hub_paths)
    assert spawner.cert_paths == hub_paths  # returned unchanged
    await spawner.start()

    [spawn] = fake.requests("spawn")
    tls = spawn["tls"]
    assert set(tls) == {"key", "cert", "ca"}
    with open(hub_paths["keyfile"]) as f:
        assert tls["key"] == f.read()
    with open(hub_paths["certfile"]) as f:
        assert tls["cert"] == f.read()
    with open(hub_paths["cafile"]) as f:
        assert tls["ca"] == f.read()
    assert "PRIVATE KEY-----" in tls["key"] and tls["cert"].startswith("-----BEGIN CERTIFICATE-----")
    # the hub's paths are in the env; the mediator replaces them with the user's copies
    assert spawn["env"]["JUPYTERHUB_SSL_KEYFILE"] == hub_paths["keyfile"]
    assert spawn["env"]["JUPYTERHUB_SERVICE_URL"].startswith("https://")
    # the key is not kept after the start
    assert spawner._tls is None
    await spawner.stop(now=True)


async def test_internal_ssl_without_certificates_refuses_to_start(make_spawner, fake):
    spawner = make_spawner()
    spawner.internal_ssl = True
    with pytest.raises(MediatorError, match="handed no certificates"):
        await spawner.start()
    assert fake.requests("spawn") == []


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture
def pem_files(tmp_path, hub_certs):
    pair = Certipy(store_dir=hub_certs["location"]).create_signed_pair("user-x", "notebooks-ca")
    return {"keyfile": pair["files"]["key"], "certfile": pair["files"]["cert"], "cafile": hub_certs["bundles"]["notebooks-ca"]}


async def test_move_certs_checks_what_it_reads(make_spawner, pem_files, tmp_path):
    spawner = make_spawner()
    good = dict(pem_files)
    assert await spawner.move_certs(good) == good

    cases = {
        "not PEM": dict(good, certfile=write(tmp_path / "c.txt", "hello\n")),
        "should hold PRIVATE KEY": dict(good, keyfile=good["certfile"]),
        "should hold CERTIFICATE": dict(good, cafile=good["keyfile"]),
        "larger than 65536 bytes": dict(good, cafile=write(tmp_path / "big.pem", "x" * (MAX_PEM_BYTES + 1))),
        "cannot read": dict(good, keyfile=str(tmp_path / "missing.key")),
        "not ASCII": dict(good, certfile=write(tmp_path / "u.pem", "-----BEGIN CERTIFICATE-----\né\n-----END CERTIFICATE-----\n")),
        "gave no cafile": {k: v for k, v in good.items() if k != "cafile"},
    }
    for expected, paths in cases.items():
        with pytest.raises(MediatorError, match=expected):
            await spawner.move_certs(paths)


def test_check_pem():
    block = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert check_pem(block + block, "CERTIFICATE", "ca") == block + block
    assert check_pem("subject=CN x\n" + block, "CERTIFICATE", "ca")  # text before the block is PEM's "explanatory text"
    for bad in ("", block.replace("-----END", "-----FIN"), block + "\x00", block.replace("MIIB", "MI\x1bB")):
        with pytest.raises(MediatorError):
            check_pem(bad, "CERTIFICATE", "ca")

