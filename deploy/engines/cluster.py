"""`eventpipe engines up --nodes N`: N Kafka brokers in one KRaft cluster and N
Elasticsearch nodes in one cluster, on this machine, beside the single-node engines.

Each node is a process group of its own with its own config, data, log, pid file and
ports; all of them run from the distributions `engines up` fetched (the Kafka jars, the
Elasticsearch integ-test-zip), never a copy. The ports follow one rule (`ClusterPlan`):
node i listens on the single node's port + `cluster_port_offset` + 10 * i, so with the
default offset of 10000 the brokers are 19092, 19102, 19112 (controllers 19093, 19103,
19113) and the nodes 19200, 19210, 19220 (transport 19300, 19310, 19320). The state lives
in `cluster_state_dir` (`<cache>/cluster` unless `EVENTPIPE_ENGINES__CLUSTER_DIR` says
otherwise), with `cluster.json` recording the size and the Kafka cluster id.

Every broker is also a controller (KRaft combined mode, a static quorum of all N): a
majority must run for the cluster to elect a leader, as in production. Replication
defaults follow the size: 3 copies and `min.insync.replicas` 2 for three nodes or more.
Heaps are small (`cluster_kafka_heap`, `cluster_elasticsearch_heap`): three of each take
about 5 GB. `up` starts only the nodes that are down; `down` stops them all at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy.engines import elasticsearch, kafka
from deploy.engines.errors import EngineError
from deploy.engines.jdk import find_java_home
from deploy.engines.process import PidFile, spawn, stop, tail
from deploy.engines.secure import ensure_secret
from schemas.settings import EngineSettings

MAX_NODES = 9
NODE_PORT_STEP = 10
STATE_FILE = "cluster.json"
CLUSTER_NAME = "eventpipe-cluster"


@dataclass(frozen=True)
class ClusterPlan:
    """The nodes' ports and the settings eventpipe needs on them: pure, from the size."""

    nodes: int
    engines: EngineSettings

    def __post_init__(self) -> None:
        if not 1 <= self.nodes <= MAX_NODES:
            raise EngineError(f"--nodes must be between 1 and {MAX_NODES}, not {self.nodes}")

    def _port(self, single: int, node: int) -> int:
        return single + self.engines.cluster_port_offset + NODE_PORT_STEP * node

    def kafka_port(self, node: int) -> int:
        return self._port(self.engines.kafka_port, node)

    def controller_port(self, node: int) -> int:
        return self._port(self.engines.kafka_controller_port, node)

    def elasticsearch_port(self, node: int) -> int:
        return self._port(self.engines.elasticsearch_port, node)

    def transport_port(self, node: int) -> int:
        return self._port(self.engines.elasticsearch_transport_port, node)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_port(i)}" for i in range(self.nodes))

    @property
    def elasticsearch_urls(self) -> str:
        return ",".join(f"http://127.0.0.1:{self.elasticsearch_port(i)}" for i in range(self.nodes))

    @property
    def replication_factor(self) -> int:
        return min(3, self.nodes)

    @property
    def min_insync_replicas(self) -> int:
        """One copy may be lost and writes go on: 2 of 3, 1 of 2."""
        return max(1, min(2, self.replication_factor - 1))

    @property
    def index_replicas(self) -> int:
        return 1 if self.nodes > 1 else 0

    @property
    def state_dir(self) -> Path:
        return self.engines.cluster_state_dir

    def ports(self) -> list[int]:
        return [
            port
            for i in range(self.nodes)
            for port in (
                self.kafka_port(i),
                self.controller_port(i),
                self.elasticsearch_port(i),
                self.transport_port(i),
            )
        ]


def render_kafka_properties(plan: ClusterPlan, node: int, data_dir: Path) -> str:
    """server.properties of broker `node`: broker and controller, a static quorum of all."""
    voters = ",".join(f"{i}@127.0.0.1:{plan.controller_port(i)}" for i in range(plan.nodes))
    port, controller = plan.kafka_port(node), plan.controller_port(node)
    lines = kafka.broker_properties(
        node, port, controller, data_dir, plan.replication_factor, plan.min_insync_replicas
    )
    lines.update({
        "controller.quorum.voters": voters,
        # Topics made by others (faust's, Kafka's own) are replicated like eventpipe's.
        "default.replication.factor": str(plan.replication_factor),
        "min.insync.replicas": str(plan.min_insync_replicas),
        "unclean.leader.election.enable": "false",
        # A dead broker is fenced (its partitions get new leaders) after 5 s, not 9.
        "broker.session.timeout.ms": "5000",
        "broker.heartbeat.interval.ms": "1000",
    })  # fmt: skip
    return kafka.render_properties(lines)


def render_elasticsearch_config(
    plan: ClusterPlan, node: int, layout: elasticsearch.ElasticsearchLayout
) -> str:
    """elasticsearch.yml of node `node`: one cluster of all, security on, loopback only.

    path.data is given on the command line instead, where it names the node's process
    for its pid file.
    """
    seeds = ", ".join(f'"127.0.0.1:{plan.transport_port(i)}"' for i in range(plan.nodes))
    masters = ", ".join(f'"node-{i}"' for i in range(plan.nodes))
    settings = {
        "cluster.name": CLUSTER_NAME,
        "node.name": f"node-{node}",
        "path.logs": str(layout.logs),
        "network.host": "127.0.0.1",
        "http.port": str(layout.port),
        "transport.port": str(layout.transport_port),
        "discovery.seed_hosts": f"[{seeds}]",
        "cluster.initial_master_nodes": f"[{masters}]",
        "xpack.security.enabled": "true",
        # Loopback only, so plain HTTP and transport; the credentials are still checked.
        "xpack.security.http.ssl.enabled": "false",
        "xpack.security.transport.ssl.enabled": "false",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    return "".join(f"{key}: {value}\n" for key, value in settings.items())


# -- layouts -----------------------------------------------------------------------------


def kafka_layout(plan: ClusterPlan, node: int) -> kafka.KafkaLayout:
    home = plan.state_dir / f"kafka-{node}"
    config = home / "config"
    return kafka.KafkaLayout(
        libs=kafka.KafkaLayout.of(plan.engines).libs,
        config=config,
        data=home / "data",
        log=home / "logs" / "kafka.log",
        pid_file=PidFile(home / "kafka.pid", marker=str(config / "server.properties")),
    )


def _node_root(plan: ClusterPlan, user: str | None) -> Path:
    """Where the Elasticsearch nodes' files live: the state dir, or (run as root, when the
    nodes run as an unprivileged user) that user's cache, keyed by the state dir."""
    if user is None:
        return plan.state_dir
    key = hashlib.sha1(str(plan.state_dir.resolve()).encode()).hexdigest()[:12]
    return elasticsearch._home_of(user) / ".cache" / "eventpipe" / "clusters" / key


def elasticsearch_layout(plan: ClusterPlan, node: int) -> elasticsearch.ElasticsearchLayout:
    single = elasticsearch.ElasticsearchLayout.of(plan.engines)
    node_dir = _node_root(plan, single.user) / f"elasticsearch-{node}"
    state = plan.state_dir / f"elasticsearch-{node}"
    data = node_dir / "data"
    return elasticsearch.ElasticsearchLayout(
        user=single.user,
        home=single.home,  # the one distribution; each node has its own config folder
        data=data,
        logs=node_dir / "logs",
        launcher_log=state / "logs" / "elasticsearch.out",
        pid_file=PidFile(state / "elasticsearch.pid", marker=f"-Epath.data={data}"),
        password_file=plan.state_dir / "elastic-password",
        config=node_dir / "config",
        port=plan.elasticsearch_port(node),
        transport_port=plan.transport_port(node),
        heap=plan.engines.cluster_elasticsearch_heap,
        ca_file=None,
    )


# -- state -------------------------------------------------------------------------------


def recorded_nodes(engines: EngineSettings) -> int | None:
    """The size of the cluster made in the state dir, or None when there is none."""
    try:
        return int(json.loads((engines.cluster_state_dir / STATE_FILE).read_text())["nodes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cluster_id(plan: ClusterPlan) -> str:
    """The Kafka cluster id every broker is formatted with, made once."""
    path = plan.state_dir / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = None
    if state is not None:
        if state.get("nodes") != plan.nodes:
            raise EngineError(
                f"{plan.state_dir} holds a cluster of {state.get('nodes')} nodes; stop it "
                f"(`eventpipe engines down --nodes {state.get('nodes')}`) and remove that "
                "folder, or set EVENTPIPE_ENGINES__CLUSTER_DIR to another one"
            )
        return str(state["kafka_cluster_id"])
    state = {"nodes": plan.nodes, "kafka_cluster_id": kafka.new_cluster_id()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state) + "\n")
    return str(state["kafka_cluster_id"])


# -- status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeStatus:
    node: int
    pid: int | None
    address: str
    running: bool
    healthy: bool
    log: str


async def _broker_answers(port: int) -> bool:
    """That broker itself (not any of the cluster) answers a metadata request."""
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    try:
        async with asyncio.timeout(3):
            conn = await create_conn("127.0.0.1", port, request_timeout_ms=3000)
            try:
                await conn.send(MetadataRequest([]))
            finally:
                conn.close()
        return True
    except Exception:
        return False


def _quietly(coroutine_factory: Callable[[], object]) -> object:
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coroutine_factory())  # type: ignore[arg-type]
    finally:
        client_log.setLevel(level)


def _password(plan: ClusterPlan) -> str | None:
    path = plan.state_dir / "elastic-password"
    return path.read_text().strip() if path.is_file() else None


def status(plan: ClusterPlan) -> dict[str, list[NodeStatus]]:
    """Every node of both engines: running (its pid) and healthy (it answers)."""
    password = _password(plan)
    brokers, nodes = [], []
    for i in range(plan.nodes):
        layout = kafka_layout(plan, i)
        pid = layout.pid_file.running_pid()
        port = plan.kafka_port(i)
        healthy = pid is not None and bool(_quietly(lambda port=port: _broker_answers(port)))
        brokers.append(
            NodeStatus(i, pid, f"127.0.0.1:{port}", pid is not None, healthy, str(layout.log))
        )
    for i in range(plan.nodes):
        es = elasticsearch_layout(plan, i)
        pid = es.pid_file.running_pid()
        healthy = pid is not None and elasticsearch.health(es, password) in ("green", "yellow")
        nodes.append(
            NodeStatus(
                i, pid, f"127.0.0.1:{es.port}", pid is not None, healthy, str(es.launcher_log)
            )
        )
    return {"kafka": brokers, "elasticsearch": nodes}


def status_dict(rows: dict[str, list[NodeStatus]]) -> dict[str, list[dict[str, object]]]:
    return {engine: [asdict(row) for row in nodes] for engine, nodes in rows.items()}


# -- up and down -------------------------------------------------------------------------


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_broker(plan: ClusterPlan, node: int, java_home: Path, cluster_id: str) -> bool:
    """Start broker `node` unless it runs; True when it was started."""
    layout = kafka_layout(plan, node)
    if layout.pid_file.running_pid() is not None:
        return False
    for port in (plan.kafka_port(node), plan.controller_port(node)):
        if _port_taken(port):
            raise EngineError(
                f"port {port} (Kafka node {node}) is taken by a process eventpipe "
                "did not start; set EVENTPIPE_ENGINES__CLUSTER_PORT_OFFSET"
            )
    properties = render_kafka_properties(plan, node, layout.data)
    kafka.configure(plan.engines, layout, java_home, cluster=(properties, cluster_id))
    proc = spawn(
        kafka.command(plan.engines, layout, java_home, plan.engines.cluster_kafka_heap),
        log_path=layout.log,
        env={"PATH": "/usr/bin:/bin"},
        cwd=layout.config,
    )
    layout.pid_file.write(proc.pid)
    return True


def _start_node(plan: ClusterPlan, node: int, java_home: Path) -> bool:
    """Start Elasticsearch node `node` unless it runs; True when it was started."""
    layout = elasticsearch_layout(plan, node)
    if layout.pid_file.running_pid() is not None:
        return False
    for port in (layout.port, layout.transport_port):
        if _port_taken(port):
            raise EngineError(
                f"port {port} (Elasticsearch node {node}) is taken by a process "
                "eventpipe did not start; set "
                "EVENTPIPE_ENGINES__CLUSTER_PORT_OFFSET"
            )
    layout.config.parent.mkdir(parents=True, exist_ok=True)
    elasticsearch.configure(
        plan.engines, layout, java_home, config_text=render_elasticsearch_config(plan, node, layout)
    )
    proc = spawn(
        [str(layout.home / "bin" / "elasticsearch"), f"-Epath.data={layout.data}"],
        log_path=layout.launcher_log,
        env=elasticsearch.environment(layout, java_home),
        cwd=layout.home,
        user=layout.user,
    )
    layout.pid_file.write(proc.pid)
    return True


async def _brokers_registered(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        return len((await admin.describe_cluster())["brokers"])
    except Exception:
        return 0
    finally:
        await admin.close()


def _elasticsearch_nodes(plan: ClusterPlan, password: str | None) -> int:
    """Nodes in the cluster as the first answering node sees it (0: none answers)."""
    import base64
    import urllib.error
    import urllib.request

    for i in range(plan.nodes):
        request = urllib.request.Request(
            f"http://127.0.0.1:{plan.elasticsearch_port(i)}/_cluster/health"
        )
        if password:
            token = base64.b64encode(f"elastic:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=3) as response:
                return int(json.load(response).get("number_of_nodes", 0))
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return 0


def _dead(plan: ClusterPlan, started: list[tuple[str, PidFile, Path]]) -> str | None:
    for name, pid_file, log in started:
        if pid_file.running_pid() is None:
            return f"{name} exited during start-up; its log is {log}:\n{tail(log)}"
    return None


def up(engines: EngineSettings, nodes: int, report: Callable[[str], None] = print) -> ClusterPlan:
    """Start the nodes of an N-node cluster that are down and wait until every node of
    both engines has joined its cluster."""
    plan = ClusterPlan(nodes, engines)
    t0 = time.monotonic()
    kafka.fetch(engines, kafka.KafkaLayout.of(engines))
    single = elasticsearch.ElasticsearchLayout.of(engines)
    elasticsearch.ensure_user(single)
    elasticsearch.fetch(engines, single)
    fetched = time.monotonic() - t0
    java_home = find_java_home(engines.java_home)
    cluster_id = _cluster_id(plan)
    password_file = plan.state_dir / "elastic-password"
    password = ensure_secret(password_file)  # every node's bootstrap password
    started: list[tuple[str, PidFile, Path]] = []
    for i in range(nodes):
        if _start_broker(plan, i, java_home, cluster_id):
            layout = kafka_layout(plan, i)
            started.append((f"Kafka node {i}", layout.pid_file, layout.log))
    # Configuring a node runs Java tools (the keystore): in parallel, as the starts are.
    with ThreadPoolExecutor(max_workers=nodes) as pool:
        done = list(pool.map(lambda i: _start_node(plan, i, java_home), range(nodes)))
    for i, was_started in enumerate(done):
        if was_started:
            layout = elasticsearch_layout(plan, i)
            started.append((f"Elasticsearch node {i}", layout.pid_file, layout.launcher_log))
    deadline = time.monotonic() + engines.start_timeout
    kafka_ready = es_ready = False
    while True:
        if not kafka_ready:
            kafka_ready = _quietly(lambda: _brokers_registered(plan.bootstrap_servers)) == nodes
        if not es_ready:
            es_ready = _elasticsearch_nodes(plan, password) == nodes
        if kafka_ready and es_ready:
            break
        problem = _dead(plan, started)
        if problem:
            raise EngineError(problem)
        if time.monotonic() > deadline:
            waiting = [
                name
                for name, ready in (("Kafka", kafka_ready), ("Elasticsearch", es_ready))
                if not ready
            ]
            raise EngineError(
                f"the {' and '.join(waiting)} cluster did not form within "
                f"{engines.start_timeout:.0f} s; the logs are under {plan.state_dir}"
            )
        time.sleep(0.5)
    waited = time.monotonic() - t0 - fetched
    how = f"{len(started)} processes started" if started else "already running"
    report(f"kafka {engines.kafka_version}: {nodes} brokers at {plan.bootstrap_servers}")
    report(
        f"elasticsearch {engines.elasticsearch_version}: {nodes} nodes at {plan.elasticsearch_urls}"
    )
    report(
        f"{how}; ready in {waited:.1f} s"
        + (f" (fetched in {fetched:.1f} s)" if fetched > 1 else "")
    )
    return plan


def down(
    engines: EngineSettings,
    nodes: int,
    report: Callable[[str], None] = print,
    grace: float = 60.0,
) -> None:
    """Stop every node of the cluster at once (SIGTERM, SIGKILL after `grace` seconds)."""
    plan = ClusterPlan(nodes, engines)
    targets = [
        (f"elasticsearch node {i}", elasticsearch_layout(plan, i).pid_file) for i in range(nodes)
    ] + [(f"kafka node {i}", kafka_layout(plan, i).pid_file) for i in range(nodes)]

    def stop_one(target: tuple[str, PidFile]) -> str:
        name, pid_file = target
        pid = pid_file.running_pid()
        if pid is None:
            pid_file.remove()
            return f"{name}: not running"
        t0 = time.monotonic()
        graceful = stop(pid, timeout=grace)
        pid_file.remove()
        how = "stopped" if graceful else "killed after the grace period"
        return f"{name}: {how} in {time.monotonic() - t0:.1f} s"

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        for line in pool.map(stop_one, targets):
            report(line)


def remove(engines: EngineSettings, nodes: int) -> None:
    """Delete a stopped cluster's state and data (the distributions stay)."""
    plan = ClusterPlan(nodes, engines)
    user = elasticsearch.ElasticsearchLayout.of(engines).user
    shutil.rmtree(_node_root(plan, user), ignore_errors=True)
    shutil.rmtree(plan.state_dir, ignore_errors=True)


def client_environment(engines: EngineSettings, nodes: int) -> dict[str, str]:
    """The EVENTPIPE_* variables that point eventpipe at the engines of `nodes` nodes."""
    if nodes == 1:
        return {
            "EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{engines.kafka_port}",
            "EVENTPIPE_ELASTICSEARCH__URL": f"http://127.0.0.1:{engines.elasticsearch_port}",
            "EVENTPIPE_ELASTICSEARCH__USERNAME": "elastic",
            "EVENTPIPE_ELASTICSEARCH__PASSWORD_FILE": str(engines.elastic_password_file),
            "EVENTPIPE_TOPICS__REPLICATION_FACTOR": "1",
            "EVENTPIPE_TOPICS__MIN_INSYNC_REPLICAS": "1",
            "EVENTPIPE_INDICES__REPLICAS": "0",
        }
    plan = ClusterPlan(nodes, engines)
    return {
        "EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS": plan.bootstrap_servers,
        "EVENTPIPE_ELASTICSEARCH__URL": plan.elasticsearch_urls,
        "EVENTPIPE_ELASTICSEARCH__USERNAME": "elastic",
        "EVENTPIPE_ELASTICSEARCH__PASSWORD_FILE": str(plan.state_dir / "elastic-password"),
        "EVENTPIPE_TOPICS__REPLICATION_FACTOR": str(plan.replication_factor),
        "EVENTPIPE_TOPICS__MIN_INSYNC_REPLICAS": str(plan.min_insync_replicas),
        "EVENTPIPE_INDICES__REPLICAS": str(plan.index_replicas),
    }
