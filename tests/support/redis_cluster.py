"""A real local Redis Cluster for the tests: 3 masters + 3 replicas of
``redis-server --cluster-enabled yes`` on loopback, joined by
``redis-cli --cluster create --cluster-replicas 1``.

Started once per session (about 2 s), flushed per test. Its nodes fail over
fast (``cluster-node-timeout`` 1 s) and a shard without its master does not
take the others down (``cluster-require-full-coverage no``, as on
ElastiCache), so a test can kill a master and wait for its replica's
promotion. Every wait polls the cluster's own state, bounded in time.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import launch_redis

BUS_OFFSET = 10000  # the cluster bus listens on port + 10000
NODE_TIMEOUT_MS = 1000


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """Free ports <= 55535 whose bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 65535 - BUS_OFFSET or port in ports or not _bindable(port + BUS_OFFSET):
            continue
        ports.append(port)
    return ports


def wait_for(what: str, check, timeout: float = 20.0, every: float = 0.05):
    """Poll ``check()`` until it returns a truthy value (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - a node restarting: keep polling
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not reached after {timeout}s (last: {last!r})")


@dataclass
class ClusterNode:
    port: int
    proc: subprocess.Popen | None = None

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class RedisClusterProcess:
    """``start()``, ``flush()``, ``kill_master_of(key)``, ``restart(node)``, ``stop()``."""

    def __init__(self, masters: int = 3, replicas: int = 1):
        self.size = masters * (1 + replicas)
        self.masters_count = masters
        self.replicas = replicas
        self.nodes = [ClusterNode(p) for p in cluster_ports(self.size)]
        self.dir = Path(tempfile.mkdtemp(prefix="redis-cluster-"))

    @property
    def port(self) -> int:
        """The seed node the app is given (any node would do)."""
        return self.nodes[0].port

    def _launch(self, node: ClusterNode) -> None:
        exe = shutil.which("redis-server")
        node.proc = launch_redis(
            exe,
            node.port,
            *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{node.port}.conf"),
            *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
            *("--cluster-require-full-coverage", "no", "--cluster-replica-validity-factor", "0"),
            *("--dir", str(self.dir)),
        )

    def start(self) -> RedisClusterProcess:
        if not shutil.which("redis-server") or not shutil.which("redis-cli"):
            pytest.skip("redis-server/redis-cli not on PATH")
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            wait_for(f"node {node.port} up", lambda n=node: n.client().ping(), 10)
        subprocess.run(
            [
                shutil.which("redis-cli"),
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in self.nodes],
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        self.wait_healthy()
        return self

    # --- state --------------------------------------------------------------------
    def _view(self) -> list[dict]:
        """CLUSTER NODES as seen by a live node: [{id, port, role, failed, master_id, slots}]."""
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                nodes = node.client().execute_command("CLUSTER NODES")
            except Exception:  # noqa: BLE001 - try the next node
                continue
            rows = []
            for addr, f in nodes.items():
                flags = f["flags"].split(",")
                rows.append(
                    {
                        "id": f["node_id"],
                        "port": int(addr.rsplit(":", 1)[1]) if addr[-1:].isdigit() else node.port,
                        "role": "master" if "master" in flags else "replica",
                        "failed": "fail" in flags,
                        "master_id": f["master_id"],
                        "slots": f["slots"],
                    }
                )
            return rows
        raise RuntimeError("no live cluster node")

    def masters(self) -> list[int]:
        """Ports of the live masters that own slots."""
        return sorted(r["port"] for r in self._view() if r["role"] == "master" and r["slots"])

    def _healthy(self) -> bool:
        for node in self.nodes:
            if not node.alive:
                return False
            c = node.client()
            if c.cluster("INFO").get("cluster_state") != "ok":
                return False
            role = c.execute_command("ROLE")
            # a replica must have finished its sync with its master
            if role[0] in (b"slave", "slave") and role[3] not in (b"connected", "connected"):
                return False
        view = self._view()
        masters = [r for r in view if r["role"] == "master" and r["slots"] and not r["failed"]]
        replicas = [r for r in view if r["role"] == "replica" and not r["failed"]]
        return len(masters) == self.masters_count and len(replicas) == self.size - len(masters)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        wait_for("cluster_state:ok with every replica in sync", self._healthy, timeout)

    # --- test helpers ---------------------------------------------------------------
    def client(self):
        from redis.cluster import RedisCluster

        return RedisCluster(host="127.0.0.1", port=self.port, socket_timeout=2)

    def flush(self) -> None:
        for port in self.masters():
            self.node(port).client().flushall()

    def node(self, port: int) -> ClusterNode:
        return next(n for n in self.nodes if n.port == port)

    def master_of(self, key: str) -> int:
        c = self.client()
        try:
            return c.get_node_from_key(key).port
        finally:
            c.close()

    def wait_replicated(self, port: int, timeout: float = 10.0) -> None:
        """Until the replicas of master ``port`` have every write it acknowledged."""

        def caught_up():
            role = self.node(port).client().execute_command("ROLE")
            offset, replicas = int(role[1]), role[2]
            return bool(replicas) and all(int(r[2]) >= offset for r in replicas)

        wait_for(f"replicas of {port} in sync", caught_up, timeout)

    def kill(self, port: int) -> None:
        node = self.node(port)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(5)

    def wait_promoted(self, dead_port: int, timeout: float = 30.0) -> int:
        """Port of the replica promoted in place of the dead master."""

        def promoted():
            view = self._view()
            dead = next(r for r in view if r["port"] == dead_port)
            if not dead["failed"]:
                return None
            live = [r for r in view if not r["failed"] and r["port"] != dead_port]
            new = [r["port"] for r in live if r["role"] == "master" and r["slots"]]
            return new if len(new) == self.masters_count else None

        masters = wait_for(f"a replica promoted in place of {dead_port}", promoted, timeout)
        return next(p for p in masters if p not in self._before_kill)

    def kill_master(self, port: int) -> None:
        self._before_kill = set(self.masters())
        self.kill(port)

    def restart(self, port: int) -> None:
        """Start a killed node again (it rejoins as a replica) and wait for health."""
        self._launch(self.node(port))
        self.wait_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.proc.kill()
                node.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def uses_redis_cluster(item) -> bool:
    """Does a collected test run on the session's cluster (by fixture, or by a cluster
    backend parameter such as ``[redis_cluster]``)?"""
    return "redis_cluster" in item.fixturenames or "cluster" in item.nodeid.rsplit("::", 1)[-1]
