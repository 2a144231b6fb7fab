"""Calling the ts-sudospawner mediator through sudo: the call itself (call), reading its one JSON
answer (answers), explaining a failed call to the admin (explain, refusals), and relaying its
stderr and the server's into the hub log (relay)."""
