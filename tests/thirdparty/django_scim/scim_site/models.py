"""The user and group models django-scim2's documentation asks for: its mixins on Django's own models."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class Group(AbstractSCIMGroupMixin):
    name = models.CharField(max_length=150, unique=True)


class User(AbstractSCIMUserMixin, AbstractUser):
    # django-scim2's adapters read a user's groups as `scim_groups` and a group's members as `user_set`.
    scim_groups = models.ManyToManyField(Group, related_name="user_set", blank=True)
