"""Staff accounts: the project's user model (AUTH_USER_MODEL), part of queue_app.models."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StaffQuerySet(models.QuerySet):
    def create(self, **fields):
        """`Staff.objects.create(username=…, password='…')` (the seed's snippet) stores a hash.

        On the queryset, so get_or_create and update_or_create (which call it) hash too.
        """
        password = fields.pop("password", None)
        user = self.model(**fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(force_insert=True, using=self.db)
        return user


class StaffManager(UserManager.from_queryset(StaffQuerySet)):
    pass


class Staff(AbstractUser):
    class Role(models.TextChoices):
        OPERATOR = "operator", _("Counter operator")
        RECEPTION = "reception", _("Reception")
        MANAGER = "manager", _("Manager (reports only)")
        ADMIN = "admin", _("Administrator")

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.OPERATOR)

    objects = StaffManager()

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["operator", "reception", "manager", "admin"]), name="staff_role_valid"
            ),
        ]

    def save(self, *args, **kwargs):
        # Administrators manage the clinic in Django admin, reception uses its ticket actions
        # there (TicketAdmin checks the role); operators work at counters, managers read reports.
        if self.role in (self.Role.ADMIN, self.Role.RECEPTION) or self.is_superuser:
            self.is_staff = True
        elif self.role == self.Role.MANAGER:
            self.is_staff = False  # a manager's account never opens Django admin
        super().save(*args, **kwargs)

    @property
    def is_queue_admin(self) -> bool:
        return self.is_active and (self.role == self.Role.ADMIN or self.is_superuser)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
