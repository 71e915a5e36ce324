"""factory_boy factories for test data. Queue state is still changed only through services."""

from datetime import time

import factory

from queue_app.models import EVERY_DAY, Counter, Patient, Service, Staff


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ("service_name",)

    service_name = factory.Sequence(lambda n: f"Service{n}")
    description = "A service"
    week_days = EVERY_DAY
    is_active = True


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"operator{n}")
    password = "correct horse battery"
    role = Staff.Role.OPERATOR
    is_active = True


class CounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Counter

    counter_name = factory.Sequence(lambda n: f"Counter {n}")
    service = factory.SubFactory(ServiceFactory)
    start_time = time(0, 0)
    end_time = time(23, 59, 59)
    current_status = Counter.Status.CLOSED


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    phone = factory.Sequence(lambda n: f"+9198{n:08d}")
    name = factory.Sequence(lambda n: f"Patient {n} Kumar")
