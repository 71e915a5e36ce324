"""The seed's "Initial Data Setup" snippets run as written; seed_demo is idempotent."""

import textwrap

import pytest
from django.core.management import call_command

from queue_app.models import Counter, Service, Staff

pytestmark = pytest.mark.django_db

SEED_SNIPPETS = textwrap.dedent(
    """
    from queue_app.models import Service

    Service.objects.create(
        service_name='OPD',
        description='Outpatient Department',
        week_days=1,  # Monday
        is_active=True
    )

    Service.objects.create(
        service_name='Test',
        description='Laboratory Tests',
        week_days=1,  # Monday
        is_active=True
    )
    from queue_app.models import Counter, Service
    from datetime import time

    opd_service = Service.objects.get(service_name='OPD')
    test_service = Service.objects.get(service_name='Test')

    Counter.objects.create(
        counter_name='Counter 1',
        service=opd_service,
        start_time=time(9, 0),
        end_time=time(17, 0),
        current_status='available'
    )

    Counter.objects.create(
        counter_name='Counter 2',
        service=test_service,
        start_time=time(9, 0),
        end_time=time(17, 0),
        current_status='available'
    )
    from queue_app.models import Staff

    Staff.objects.create(
        username='operator1',
        password='password123',  # Will be hashed automatically
        role='operator',
        is_active=True
    )
    """
)


def test_the_seed_snippets_run_verbatim_in_manage_py_shell():
    call_command("shell", command=SEED_SNIPPETS)
    assert list(Service.objects.values_list("service_name", "week_days")) == [("OPD", 1), ("Test", 1)]
    assert Counter.objects.count() == 2
    operator = Staff.objects.get(username="operator1")
    assert operator.password.startswith(("pbkdf2_", "argon2", "bcrypt", "md5$", "scrypt"))
    assert operator.check_password("password123")


def test_seed_demo_is_idempotent(tmp_path, settings, capsys):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo")
    first = capsys.readouterr().out
    state = (
        list(Service.objects.values_list("service_name", "week_days")),
        list(Counter.objects.values_list("counter_name", "service__service_name", "assigned_staff__username")),
        list(Staff.objects.order_by("username").values_list("username", "password")),
    )
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert state == (
        list(Service.objects.values_list("service_name", "week_days")),
        list(Counter.objects.values_list("counter_name", "service__service_name", "assigned_staff__username")),
        list(Staff.objects.order_by("username").values_list("username", "password")),
    )
    assert state[0] == [("OPD", 127), ("Test", 127)]
    assert len(state[1]) == 4
    assert first == second  # the same logins are printed from var/demo-logins.txt


def test_seed_demo_passwords_work_and_admin_is_superuser(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo", quiet=True)
    logins = dict(line.split() for line in (tmp_path / "var" / "demo-logins.txt").read_text().splitlines())
    assert set(logins) == {"admin", "reception", "operator1", "operator2", "operator3", "operator4"}
    assert Staff.objects.get(username="reception").role == "reception"
    assert Staff.objects.get(username="operator3").check_password(logins["operator3"])
    admin = Staff.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.role == "admin"
