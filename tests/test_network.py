"""A study opens no port beyond loopback: Dask has no authentication by default."""

from __future__ import annotations

import ipaddress
import threading
import time

import psutil
import pytest

from hpobench_rl_cl import api

pytestmark = pytest.mark.slow


def _listening_addresses() -> set[str]:
    addresses = set()
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        addresses |= {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}
    return addresses


@pytest.mark.parametrize("workers", [1, 2])
def test_no_listening_socket_outside_loopback_while_a_study_runs(workers, tiny_protocol, tmp_path):
    outcome: dict = {}

    def study() -> None:
        try:
            outcome["summary"] = api.run_study(tiny_protocol, scale="smoke", workers=workers, store=tmp_path / "runs",
                                               results=tmp_path / "results", progress=False)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    runner = threading.Thread(target=study)
    before = _listening_addresses()
    runner.start()
    seen: set[str] = set()
    while runner.is_alive():
        seen |= _listening_addresses()
        time.sleep(0.1)
    runner.join()
    assert "error" not in outcome, outcome.get("error")
    opened = seen - before
    assert all(ipaddress.ip_address(ip).is_loopback for ip in opened), f"listening beyond loopback: {opened}"
    if workers == 1:
        assert not opened, "one worker runs in this process: nothing should listen at all"
    else:
        assert opened, "the local cluster should have been seen listening on loopback"
