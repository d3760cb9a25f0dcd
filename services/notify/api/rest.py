"""/v1/webhooks: a tenant's webhook subscriptions, their delivery logs and redeliveries.

Every operation is `configure` (admin only), reads included: a target URL often carries a token of
the receiving system in its path or query, and the log shows what the tenant's integrations answer,
so neither is for desks or wallboards. The secret is shown once, in the answer to the creation.
The tenant is the API key's; a subscription of another tenant is not found.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Response

from helpline.auth import ApiKeyStore
from helpline.domain import DomainError, NotFoundError
from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit, SortKey, paged
from helpline.rest import (
    API_KEYS,
    Caller,
    IfMatch,
    ProblemError,
    Provided,
    admits,
    etag,
    parse_if_match,
    problem_responses,
    resource_router,
)
from helpline.roles import Access
from services.notify.api.schemas import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)
from services.notify.domain.delivery import Delivery, Status
from services.notify.domain.signing import new_secret
from services.notify.store import StoredSubscription, ms
from services.notify.subscriptions import PreconditionFailedError, StillWaitingError, Subscriptions

SUBSCRIPTIONS: Provided[Subscriptions] = Provided("webhook_subscriptions")
Hooks = Annotated[Subscriptions, Depends(SUBSCRIPTIONS.get)]
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

api = resource_router(prefix="/v1/webhooks", tags=["webhooks"])
STALE = problem_responses({412: "If-Match names a version the webhook has moved on from."})

MISSING = problem_responses({404: "No webhook (or delivery) with this id for this tenant."})
INVALID = problem_responses(
    {
        422: "The request is invalid: `rule` names the refusal (`private_target`, `invalid_url`, "
        "`url_with_credentials`, `invalid_event_type`, `too_many_event_types`, `invalid_secret`...)."
    }
)


def provide(app: FastAPI, subscriptions: Subscriptions, keys: ApiKeyStore) -> None:
    SUBSCRIPTIONS.provide(app, subscriptions)
    API_KEYS.provide(app, keys)


def _refused(exc: DomainError) -> ProblemError:
    return ProblemError(422, "Invalid request", exc.message, rule=exc.rule, **exc.detail)


def _missing(exc: NotFoundError) -> ProblemError:
    return ProblemError(404, "Not Found", str(exc), kind=exc.kind, id=exc.identifier)


def _stale(exc: PreconditionFailedError) -> ProblemError:
    return ProblemError(
        412, "Precondition Failed", str(exc), expected_version=exc.expected, current_version=exc.current
    )


def _answer(stored: StoredSubscription, response: Response) -> WebhookOut:
    response.headers["ETag"] = etag(stored.version)
    return WebhookOut.of(stored)


@api.post(
    "",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=201,
    response_model=WebhookCreated,
    responses=INVALID,
)
def create_webhook(body: WebhookCreate, caller: Caller, hooks: Hooks, response: Response) -> WebhookCreated:
    """Subscribe a target to event types; the answer carries the signing secret, once."""
    try:
        sub = hooks.create(
            caller.tenant_id,
            body.url,
            body.event_types,
            body.secret or new_secret(),
            body.description,
            body.enabled,
        )
    except DomainError as exc:
        raise _refused(exc) from exc
    response.headers["Location"] = f"/v1/webhooks/{sub.id}"
    created = _answer(hooks.get(caller.tenant_id, sub.id), response)
    return WebhookCreated(**created.model_dump(), secret=sub.secret)


@api.get("", openapi_extra=admits(Access.CONFIGURE), response_model=WebhookPage)
def list_webhooks(
    caller: Caller, hooks: Hooks, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> WebhookPage:
    found = paged(hooks.of_tenant(caller.tenant_id), _by_id, limit, cursor)
    return WebhookPage(items=[WebhookOut.of(s) for s in found.items], next_cursor=found.next_cursor or None)


@api.get(
    "/{webhook_id}", openapi_extra=admits(Access.CONFIGURE), response_model=WebhookOut, responses=MISSING
)
def get_webhook(webhook_id: Id, caller: Caller, hooks: Hooks, response: Response) -> WebhookOut:
    try:
        return _answer(hooks.get(caller.tenant_id, webhook_id), response)
    except NotFoundError as exc:
        raise _missing(exc) from exc


@api.patch(
    "/{webhook_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=WebhookOut,
    responses={**MISSING, **INVALID, **STALE},
)
def patch_webhook(
    webhook_id: Id,
    body: WebhookPatch,
    caller: Caller,
    hooks: Hooks,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookOut:
    """Change the fields given. Enabling a disabled webhook resumes its waiting deliveries, in order."""
    expected = parse_if_match(if_match)
    try:
        stored = hooks.change(
            caller.tenant_id,
            webhook_id,
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
            expected=expected,
        )
    except NotFoundError as exc:
        raise _missing(exc) from exc
    except PreconditionFailedError as exc:
        raise _stale(exc) from exc
    except DomainError as exc:
        raise _refused(exc) from exc
    return _answer(stored, response)


@api.delete(
    "/{webhook_id}",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The webhook and its waiting deliveries are gone."}, **MISSING, **STALE},
)
def delete_webhook(webhook_id: Id, caller: Caller, hooks: Hooks, if_match: IfMatch = None) -> Response:
    expected = parse_if_match(if_match)
    try:
        hooks.delete(caller.tenant_id, webhook_id, expected)
    except NotFoundError as exc:
        raise _missing(exc) from exc
    except PreconditionFailedError as exc:
        raise _stale(exc) from exc
    return Response(status_code=204)


@api.get(
    "/{webhook_id}/deliveries",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=DeliveryPage,
    responses=MISSING,
)
def list_deliveries(
    webhook_id: Id,
    caller: Caller,
    hooks: Hooks,
    status: Annotated[Status | None, Query(description="Only deliveries in this status.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = "",
) -> DeliveryPage:
    """The webhook's recent deliveries, newest first."""
    try:
        log = hooks.deliveries(caller.tenant_id, webhook_id)
    except NotFoundError as exc:
        raise _missing(exc) from exc
    chosen = [d for d in log if status is None or d.status is status]
    found = paged(chosen, _newest_first, limit, cursor)
    return DeliveryPage(items=[DeliveryOut.of(d) for d in found.items], next_cursor=found.next_cursor or None)


@api.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=202,
    response_model=DeliveryOut,
    responses={
        **MISSING,
        **problem_responses({409: "The delivery is still waiting (`delivery_in_flight`)."}),
    },
)
def redeliver(webhook_id: Id, delivery_id: Id, caller: Caller, hooks: Hooks) -> DeliveryOut:
    """Attempt a delivered or dead delivery again, with a new series of attempts, after what its
    lane holds already; the target gets the same `webhook-id`."""
    try:
        again = hooks.redeliver(caller.tenant_id, webhook_id, delivery_id)
    except NotFoundError as exc:
        raise _missing(exc) from exc
    except StillWaitingError as exc:
        raise ProblemError(409, "Conflict", str(exc), rule="delivery_in_flight") from exc
    return DeliveryOut.of(again)


def _by_id(stored: StoredSubscription) -> SortKey:
    return 0, stored.subscription.id


def _newest_first(delivery: Delivery) -> SortKey:
    return -ms(delivery.created_at), delivery.id
