"""/v1/settings/surveys: a tenant's survey settings, read by any reading key and written by an
admin's (configuration); every write is audited (helpline.audit)."""

from __future__ import annotations

from helpline.rest import Caller, admits, problem_responses, resource_router
from helpline.roles import Access
from services.tickets.api.rest.common import UseCases, refusals
from services.tickets.api.schemas import SurveySettingsBody

router = resource_router(prefix="/v1/settings", tags=["settings"])


@router.get("/surveys", openapi_extra=admits(Access.READ), response_model=SurveySettingsBody)
def get_survey_settings(caller: Caller, tickets: UseCases) -> SurveySettingsBody:
    """The tenant's survey settings; the defaults (CSAT and NPS, no throttle) until an admin sets them."""
    return SurveySettingsBody.of(tickets.survey_settings(caller.tenant_id))


@router.put(
    "/surveys",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=SurveySettingsBody,
    responses=problem_responses(
        {
            409: "Another write of the settings kept winning (`contended`); try again.",
            422: "Invalid settings: `errors` list the fields, or `rule` names the refusal "
            "(`duplicate_survey_kind`).",
        }
    ),
)
def put_survey_settings(body: SurveySettingsBody, caller: Caller, tickets: UseCases) -> SurveySettingsBody:
    """Replace the tenant's survey settings whole; solves from now on follow them. A requester's
    throttle already running keeps the length it was set with."""
    with refusals():
        settings = tickets.put_survey_settings(caller.tenant_id, body.to_settings())
    return SurveySettingsBody.of(settings)
