"""The tickets app's answers to what other apps announce (connected in `TicketsConfig.ready`).

Receivers are entry points like views and tasks: they translate a signal into one service call.
"""

from . import services
from .models import SecurityEventKind
from .services import security


def record_call_answer(sender, *, call, response, **kwargs) -> None:
    """An external application answered: its effect on the ticket goes through the services."""
    services.apply_call_answer(call=call, response=response)


def record_call_finished(sender, *, call, **kwargs) -> None:
    """An outbox call finished for good: a customer message's outcome is recorded."""
    services.record_send_outcome(call=call)


# --- The security log (tickets.services.security) ---------------------------------------------
class SecurityContextMiddleware:
    """Makes each request the current one for the security log: signals such as a role change
    carry no request, and their events still need who acted, from which address and browser."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with security.request_context(request):
            return self.get_response(request)


def _user_named(username: str):
    from django.contrib.auth import get_user_model

    model = get_user_model()
    if not username:
        return None
    return model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()


def logged_in(sender, request, user, **kwargs) -> None:
    from .views.account import settle_sign_in

    settle_sign_in(request, user)
    security.record_event(
        kind=SecurityEventKind.LOGIN, actor=user, target_user=user, request=request
    )


def logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        security.record_event(
            kind=SecurityEventKind.LOGOUT, actor=user, target_user=user, request=request
        )


def login_failed(sender, credentials, request=None, **kwargs) -> None:
    """A refused sign-in: the user name typed is kept (the password never is)."""
    from django.contrib.auth import get_user_model

    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")[:150]
    detail = {"locked_out": True} if getattr(request, "axes_locked_out", False) else {}
    security.record_event(
        kind=SecurityEventKind.LOGIN_FAILED,
        actor=None,
        target_user=_user_named(username),
        target_username=username,
        request=request,
        detail=detail,
    )


def locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """django-axes locked a user name or an address after too many failures."""
    username = str(username or "")[:150]
    security.record_event(
        kind=SecurityEventKind.LOCKOUT,
        actor=None,
        target_user=_user_named(username),
        target_username=username,
        request=request,
        ip_address=ip_address,
    )


def groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """Roles are groups: one event per user whose groups were added or removed.

    Removals are recorded before they happen (`pre_remove`, `pre_clear`), when the groups the
    user really had can still be read; all of it runs in the change's own transaction.
    """
    from django.contrib.auth.models import Group

    if action not in ("post_add", "pre_remove", "pre_clear"):
        return
    if action != "pre_clear" and not pk_set:
        return
    kind = SecurityEventKind.ROLE_ADDED if action == "post_add" else SecurityEventKind.ROLE_REMOVED
    own, other = ("group_id", "user_id") if reverse else ("user_id", "group_id")
    links = sender.objects.filter(**{own: instance.pk})
    if action != "pre_clear":
        links = links.filter(**{f"{other}__in": pk_set})
    by_user: dict[int, list[int]] = {}
    for user_id, group_id in links.values_list("user_id", "group_id"):
        by_user.setdefault(user_id, []).append(group_id)
    if not by_user:
        return
    group_ids = {pk for ids in by_user.values() for pk in ids}
    names = dict(Group.objects.filter(pk__in=group_ids).values_list("pk", "name"))
    users = {user.pk: user for user in model.objects.filter(pk__in=by_user)} if reverse else {}
    for user_id, group_ids in sorted(by_user.items()):
        security.record_event(
            kind=kind,
            target_user=users.get(user_id) if reverse else instance,
            detail={"roles": sorted(names[pk] for pk in group_ids)},
        )


PRIVILEGE_FIELDS = ("is_staff", "is_superuser")


def user_saving(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Note the user's staff and superuser flags before a save that may change them."""
    if raw or (update_fields is not None and not set(PRIVILEGE_FIELDS) & set(update_fields)):
        return
    before = None
    if not instance._state.adding:
        before = sender._default_manager.filter(pk=instance.pk).values(*PRIVILEGE_FIELDS).first()
    instance._security_privileges = before or dict.fromkeys(PRIVILEGE_FIELDS, False)


def user_saved(sender, instance, created, raw=False, **kwargs) -> None:
    before = instance.__dict__.pop("_security_privileges", None)
    if raw or before is None:
        return
    changes = {
        field: {"from": before[field], "to": getattr(instance, field)}
        for field in PRIVILEGE_FIELDS
        if bool(before[field]) != bool(getattr(instance, field))
    }
    if changes:
        security.record_event(
            kind=SecurityEventKind.PRIVILEGE_CHANGED,
            target_user=instance,
            detail={"changes": changes, "new_user": created},
        )


# django-otp's devices (connected for every concrete Device model when django-otp is installed).
def _device_detail(device) -> dict:
    return {"device": device._meta.label, "name": device.name, "confirmed": device.confirmed}


def otp_device_loaded(sender, instance, **kwargs) -> None:
    instance._security_confirmed = instance.__dict__.get("confirmed")


def otp_device_saved(sender, instance, created, raw=False, **kwargs) -> None:
    was = instance.__dict__.get("_security_confirmed")
    instance._security_confirmed = instance.confirmed
    if raw:
        return
    if created:
        kind = SecurityEventKind.OTP_DEVICE_ADDED
    elif instance.confirmed and was is False:
        kind = SecurityEventKind.OTP_DEVICE_CONFIRMED
    else:
        return
    security.record_event(kind=kind, target_user=instance.user, detail=_device_detail(instance))


def otp_device_deleted(sender, instance, **kwargs) -> None:
    security.record_event(
        kind=SecurityEventKind.OTP_DEVICE_REMOVED,
        target_user=instance.user,
        detail=_device_detail(instance),
    )


def otp_static_token_deleted(sender, instance, origin=None, **kwargs) -> None:
    """A recovery code deleted on its own was used (django-otp deletes it on a match); codes
    deleted with their device or in bulk are not uses."""
    if origin is instance:
        device = instance.device
        security.record_event(
            kind=SecurityEventKind.OTP_STATIC_TOKEN_USED,
            target_user=device.user,
            detail={"device": device._meta.label, "name": device.name},
        )


def otp_failed(sender, user=None, **kwargs) -> None:
    security.record_event(kind=SecurityEventKind.OTP_FAILED, actor=None, target_user=user)


# --- Dispatch: only agents are available -------------------------------------------------------
def roles_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """A user's groups, or a group's permissions, lost something: users not offline who are no
    longer agents go offline (`dispatch.availability_without_role`), in the change's
    transaction."""
    from django.contrib.auth import get_user_model

    if action not in ("post_remove", "post_clear"):
        return
    user_model = get_user_model()
    if isinstance(instance, user_model):
        users = [instance.pk]
    elif sender is user_model.groups.through and action == "post_remove":
        users = pk_set  # a group lost these members
    else:
        users = None  # a group lost all its members or some permissions: everyone available
    services.dispatch.availability_without_role(users)


def user_saved_for_dispatch(sender, instance, created, raw=False, **kwargs) -> None:
    """A deactivated user is no longer available to dispatch."""
    if not raw and not created and not instance.is_active:
        services.dispatch.availability_without_role([instance.pk])
