"""Shared by the security and reliability suites (test_access_matrix, test_fuzz, test_xss, ...).

- `Actor`: one browser — anonymous, a patient, an operator, an admin — as a Django test client
  that enforces CSRF like a real browser and carries a valid CSRF cookie; `actor.post(...)` sends
  the matching X-CSRFToken unless told not to.
- `build_cast(...)`: the people of a small clinic, set up through the real services: two patients
  each holding a ticket being served at their own counter, one more waiting at each counter, the
  operators of counters 1 and 2, an admin and a reception clerk.
- `RedisServer`: a redis-server of the test's own on a free loopback port, for killing and
  restarting (never the machine's shared Redis).
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from queue_app import access, services
from queue_app.models import OTP, Counter, Patient, QueueHistory, Service, Staff, Ticket
from queue_app.services import otp

from .factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

# A CSRF secret in the form Django issues (32 letters and digits); the header may carry it as is.
CSRF_TOKEN = "SecuritySuiteCsrfToken0123456789"
assert len(CSRF_TOKEN) == 32


class Actor:
    """A browser: a CSRF-enforcing test client with a CSRF cookie and, maybe, a session."""

    def __init__(self, name: str, session_key: str | None = None):
        self.name = name
        self.session_key = session_key
        self.client = Client(enforce_csrf_checks=True)
        self.client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_TOKEN
        if session_key:
            self.client.cookies[settings.SESSION_COOKIE_NAME] = session_key

    def __repr__(self) -> str:
        return f"<Actor {self.name}>"

    def get(self, path, data=None, **extra):
        return self.client.get(path, data, **extra)

    def post(self, path, data=None, *, csrf: bool = True, **extra):
        """POST form-encoded (or `content_type=` with a raw body), with the CSRF header unless csrf=False."""
        if csrf:
            extra.setdefault("HTTP_X_CSRFTOKEN", CSRF_TOKEN)
        return self.client.post(path, data if data is not None else {}, **extra)

    @property
    def session_cookie(self) -> str | None:
        morsel = self.client.cookies.get(settings.SESSION_COOKIE_NAME)
        return morsel.value if morsel is not None else None


def patient_session(patient: Patient) -> str:
    """A session signed in as the patient, made by the same service the OTP check uses."""
    session = SessionStore()
    otp.start_patient_session(
        session=session, verification=otp.Verification(phone=patient.phone, patient=patient), staff_signed_in=False
    )
    session.save()
    return session.session_key


def staff_session(user: Staff) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@dataclass
class Cast:
    """Who is who in a small clinic; `actors` maps the access-matrix column names to browsers."""

    opd: object
    lab: object  # a second service, no counter open
    counters: list[Counter]
    patient_a: Patient
    patient_b: Patient
    ticket_a: Ticket  # being served at counter 1
    ticket_b: Ticket  # being served at counter 2
    waiting: list[Ticket]  # one waiting at each counter
    admin: Staff
    reception: Staff
    actors: dict[str, Actor] = field(default_factory=dict)

    @property
    def ids(self) -> dict[str, int]:
        """What URL templates in the tests may name: {c1}, {c2}, {ta}, {tb}, {qa}, {opd}, {lab}, ..."""
        return {
            "c1": self.counters[0].pk,
            "c2": self.counters[1].pk,
            "ta": self.ticket_a.pk,
            "tb": self.ticket_b.pk,
            "qa": self.ticket_a.queue_id,
            "opd": self.opd.pk,
            "lab": self.lab.pk,
            "phone_a": self.patient_a.phone,
            "link_a": access.ticket_link_token(self.ticket_a),  # the signed link on A's slip
        }


def build_cast(opd=None, counters=None, admin_user=None, *, name_a="Asha Rao", name_b="Bilal Khan") -> Cast:
    """Patients A and B being served at counters 1 and 2; one more patient waiting at each.

    Uses conftest's `opd`, `counters` and `admin_user` when given, else makes the same itself.
    """
    if opd is None:
        opd = ServiceFactory(service_name="OPD", description="Outpatient Department")
        counters = [
            services.hold_counter(
                counter=CounterFactory(counter_name=f"Counter {i}", service=opd),
                staff=StaffFactory(username=f"operator{i}"),
            )
            for i in (1, 2)
        ]
        admin_user = StaffFactory(username="admin", role=Staff.Role.ADMIN, is_superuser=True)
    patient_a = PatientFactory(name=name_a, phone="+919811100001")
    patient_b = PatientFactory(name=name_b, phone="+919811100002")
    ticket_a, _ = services.join(patient=patient_a, service=opd)  # counter 1 (tie: lowest id)
    ticket_b, _ = services.join(patient=patient_b, service=opd)  # counter 2
    waiting = [services.join(patient=PatientFactory(), service=opd)[0] for _ in range(2)]
    for counter in counters:
        services.serve_next(counter=counter, by=counter.held_by)
    ticket_a.refresh_from_db()
    ticket_b.refresh_from_db()
    assert (ticket_a.status, ticket_a.counter_id) == (Ticket.Status.CALLED, counters[0].pk)
    assert (ticket_b.status, ticket_b.counter_id) == (Ticket.Status.CALLED, counters[1].pk)
    reception = StaffFactory(username="reception1", role=Staff.Role.RECEPTION)
    cast = Cast(
        opd=opd,
        lab=ServiceFactory(service_name="Test", description="Laboratory Tests"),
        counters=counters,
        patient_a=patient_a,
        patient_b=patient_b,
        ticket_a=ticket_a,
        ticket_b=ticket_b,
        waiting=waiting,
        admin=admin_user,
        reception=reception,
    )
    cast.actors = {
        "anon": Actor("anon"),
        "patA": Actor("patA", patient_session(patient_a)),
        "patB": Actor("patB", patient_session(patient_b)),
        "op1": Actor("op1", staff_session(counters[0].held_by)),
        "op2": Actor("op2", staff_session(counters[1].held_by)),
        "admin": Actor("admin", staff_session(admin_user)),
        "recep": Actor("recep", staff_session(reception)),
    }
    return cast


def state_digest() -> dict:
    """Everything a request could change, without random or clock values: equal digests, same state.

    Ticket and patient ids are replaced by their rank: a rolled-back insert still uses up an id
    (MySQL, SQLite AUTOINCREMENT), so the same change made after a failed try gets higher ids.
    """
    tickets = {pk: rank for rank, pk in enumerate(Ticket.objects.order_by("pk").values_list("pk", flat=True))}
    patients = {pk: rank for rank, pk in enumerate(Patient.objects.order_by("pk").values_list("pk", flat=True))}
    return {
        "tickets": _rows(
            (tickets[pk], number, status, counter, patients[patient], key is not None)  # key: a digest of ids
            for pk, number, status, counter, patient, key in Ticket.objects.values_list(
                "pk", "number", "status", "counter_id", "patient_id", "active_key"
            )
        ),
        "history": _rows(
            (tickets.get(ticket), *rest)
            for ticket, *rest in QueueHistory.objects.values_list(
                "ticket_id", "counter_id", "from_counter_id", "action", "from_status", "to_status", "by_id"
            )
        ),
        "counters": _rows(Counter.objects.values_list("pk", "current_status", "held_by_id")),
        # The day's last number each service's row keeps (services.changes.next_number).
        "numbers": _rows(Service.objects.values_list("pk", "last_number", "numbers_day")),
        "patients": _rows(
            (patients[pk], phone, name) for pk, phone, name in Patient.objects.values_list("pk", "phone", "name")
        ),
        "otps": _rows(
            (otp.phone, otp.attempts, otp.send_count, otp.used_at is not None, otp.pending_name)
            for otp in OTP.objects.all()
        ),
    }


def _rows(rows) -> list[tuple]:
    return sorted(rows, key=repr)  # repr: rows may hold None next to numbers


# --- processes the fault tests start and stop ------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """Our own redis-server on a loopback port (the shared one on 6379 is never touched)."""

    def __init__(self, log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.log_path = Path(log_dir) / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self, timeout: float = 10) -> "RedisServer":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--daemonize", "no"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: Redis vanishes as in a crash (no goodbye to its clients)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
