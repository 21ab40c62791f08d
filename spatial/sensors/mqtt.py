"""MQTT: a subscriber feeding the readings/detections ingest, and a private Mosquitto for tests and dev.

Topic layout (QoS 1, JSON payloads, UTF-8):

``onemap/sensors/{sensor_code}/readings``
    ``{"t": "2026-07-01T08:00:00+08:00", "v": 0.23, "unit": "m"}`` or a list
    of such objects (``unit`` optional: default the sensor's unit).
``onemap/cameras/{camera_code}/detections``
    ``{"t": ..., "class": "illegal_parking", "confidence": 0.91,
    "snapshot_url": "...", "external_id": "..."}`` or a list of them.

The :class:`Subscriber` queues messages from paho's network thread and a
worker thread ingests them in batches (every ``batch_ms`` or ``batch_max``
messages, whichever first) through :func:`spatial.sensors.readings.ingest_readings`
(``strict=False``) and :func:`spatial.sensors.cameras.ingest_detection`, one
transaction per batch. Messages are acknowledged after the commit
(``manual_ack``). Malformed messages are logged, counted and dropped; a
failing batch is retried, then dropped and counted; the subscriber never dies
of a bad message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import paho.mqtt.publish as pub

from spatial.db.engine import session_scope
from spatial.errors import ConfigError, OneMapError
from spatial.sensors import cameras, readings

log = logging.getLogger(__name__)

READINGS_TOPIC = "onemap/sensors/{code}/readings"
DETECTIONS_TOPIC = "onemap/cameras/{code}/detections"
SUBSCRIPTIONS = (("onemap/sensors/+/readings", 1), ("onemap/cameras/+/detections", 1))


# ------------------------------------------------------------------------------------------ broker


def mosquitto_binary() -> str:
    """Path of the mosquitto broker binary (Debian package ``mosquitto``), or ConfigError."""
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if path is None:
        raise ConfigError("The mosquitto broker is not installed (apt-get install mosquitto).")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    """A private mosquitto on 127.0.0.1 (anonymous, no persistence) run as a subprocess."""

    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self, *, timeout_s: float = 10.0) -> Broker:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n"
                        f"log_dest file {self.log_path}\nlog_type error\nlog_type warning\n"
                        "max_queued_messages 100000\n")
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
                raise ConfigError(f"mosquitto exited with status {self.proc.returncode}: {err} {tail}".strip())
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout_s} s.")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> Broker:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_broker(*, port: int | None = None, workdir: str | Path | None = None) -> Broker:
    """Start a private mosquitto on 127.0.0.1 (free port unless given) and wait until it listens."""
    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="onemap-mqtt-"))
    wd.mkdir(parents=True, exist_ok=True)
    return Broker(port=port or free_port(), workdir=wd).start()


# -------------------------------------------------------------------------------------- messages


def parse_message(topic: str, payload: bytes) -> tuple[str, list[dict]]:
    """(kind, rows) from a message: kind is "readings" or "detections"; ValueError when malformed."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "onemap" or not parts[2]:
        raise ValueError(f"unexpected topic {topic!r}")
    kind = {("sensors", "readings"): "readings", ("cameras", "detections"): "detections"}.get(
        (parts[1], parts[3]))
    if kind is None:
        raise ValueError(f"unexpected topic {topic!r}")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"payload is not JSON: {exc}") from exc
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(x, dict) for x in items):
        raise ValueError("payload must be an object or a non-empty list of objects")
    key = "sensor" if kind == "readings" else "camera"
    return kind, [{**x, key: parts[2]} for x in items]


@dataclass
class Counters:
    """What the subscriber has done so far (read them from any thread)."""

    messages: int = 0
    malformed: int = 0
    readings: int = 0
    inserted: int = 0
    rejected: int = 0
    detections: int = 0
    detection_errors: int = 0
    batches: int = 0
    failed_batches: int = 0
    dropped_messages: int = 0
    alerts_raised: int = 0
    tickets: int = 0
    errors: list[str] = field(default_factory=list)


class Subscriber:
    """Subscribe to the OneMap topics and ingest in batches, one transaction per batch.

    Parameters
    ----------
    host, port
        Broker address.
    url
        Database URL (default: the configured database).
    batch_ms, batch_max
        Flush a batch after this many milliseconds or messages.
    client_id
        MQTT client id; with ``clean_session=False`` the broker keeps QoS 1
        messages for this id while the subscriber is down.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 1883, url: str | None = None,
                 batch_ms: float = 200.0, batch_max: int = 500, client_id: str = "onemap-ingest",
                 clean_session: bool = True, retries: int = 3) -> None:
        self.host, self.port, self.url = host, port, url
        self.batch_s, self.batch_max, self.retries = batch_ms / 1000.0, batch_max, retries
        self.counters = Counters()
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._connected = threading.Event()
        self._idle = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean_session, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    # paho callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error("MQTT connect refused: %s", reason_code)
            return
        client.subscribe(list(SUBSCRIPTIONS))
        self._connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        self._idle.clear()
        self.counters.messages += 1
        try:
            kind, rows = parse_message(msg.topic, msg.payload)
        except ValueError as exc:
            self.counters.malformed += 1
            log.warning("malformed MQTT message on %s: %s", msg.topic, exc)
            self._ack(msg)
            return
        self._q.put((kind, rows, msg))

    def _ack(self, msg: Any) -> None:
        if msg.qos > 0:
            with contextlib.suppress(Exception):
                self.client.ack(msg.mid, msg.qos)

    # worker thread
    def _collect(self) -> list:
        try:
            first = self._q.get(timeout=0.1)
        except queue.Empty:
            if self._q.empty():
                self._idle.set()
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_s
        while len(batch) < self.batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._q.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _ingest(self, batch: list) -> None:
        rows = [r for kind, rs, _ in batch if kind == "readings" for r in rs]
        dets = [r for kind, rs, _ in batch if kind == "detections" for r in rs]
        with session_scope(self.url) as session:
            res = readings.ingest_readings(session, rows, strict=False) if rows else None
            det_ok = det_err = 0
            for d in dets:
                try:
                    with session.begin_nested():
                        cameras.ingest_detection(session, d)
                    det_ok += 1
                except OneMapError as exc:
                    det_err += 1
                    log.warning("detection refused: %s", exc.message)
        c = self.counters
        if res is not None:
            c.readings += len(rows)
            c.inserted += res["inserted"]
            c.rejected += len(res["rejected"])
            c.alerts_raised += res["alerts_raised"]
            c.tickets += res["tickets"]
            for r in res["rejected"][:5]:
                log.warning("reading refused: %s", r["error"])
        c.detections += det_ok
        c.detection_errors += det_err

    def _run(self) -> None:
        while not (self._stop.is_set() and self._q.empty()):
            batch = self._collect()
            if not batch:
                continue
            for attempt in range(self.retries + 1):
                try:
                    self._ingest(batch)
                    self.counters.batches += 1
                    break
                except Exception as exc:  # keep the subscriber alive: retry, then drop
                    self.counters.failed_batches += 1
                    self.counters.errors.append(str(exc).splitlines()[0][:300])
                    log.exception("MQTT batch failed (attempt %d)", attempt + 1)
                    if attempt == self.retries:
                        self.counters.dropped_messages += len(batch)
                    else:
                        time.sleep(min(5.0, 0.2 * 2 ** attempt))
            for _, _, msg in batch:
                self._ack(msg)

    # control
    def start(self, *, timeout_s: float = 10.0) -> Subscriber:
        """Connect, subscribe and start the worker thread (returns once subscribed)."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise ConfigError(f"Cannot reach the MQTT broker at {self.host}:{self.port}: {exc}") from exc
        self.client.loop_start()
        self._worker = threading.Thread(target=self._run, name="onemap-mqtt-ingest", daemon=True)
        self._worker.start()
        if not self._connected.wait(timeout_s):
            self.stop()
            raise ConfigError(f"MQTT broker at {self.host}:{self.port} did not accept the subscription.")
        time.sleep(0.1)  # let the SUBACK arrive before callers publish
        return self

    def wait_idle(self, *, timeout_s: float = 10.0) -> bool:
        """Block until every queued message has been ingested (for tests and demos)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._idle.wait(0.05) and self._q.empty():
                return True
        return False

    def stop(self) -> Counters:
        """Flush what is queued, disconnect and return the counters."""
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        return self.counters

    def run_forever(self) -> None:
        """Run until interrupted (Ctrl-C), logging the counters every minute."""
        self.start()
        try:
            while True:
                time.sleep(60)
                log.info("mqtt ingest: %s", self.counters)
        finally:
            self.stop()


def publish(host: str, port: int, topic: str, payload: Any, *, qos: int = 1) -> None:
    """Publish one JSON payload and wait for the broker's acknowledgement (tests, demos)."""
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload, default=str)
    pub.single(topic, body, qos=qos, hostname=host, port=port)
