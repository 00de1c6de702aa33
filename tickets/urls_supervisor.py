"""Console pages for supervisors, Support and admins: dashboard, SLG list, escalation desk, SLA
policies, message templates."""

from django.urls import path

from .views import customer_messages, dashboard, desk, dispatch, exports, imports, sla_policies

urlpatterns = [
    # Supervisor dashboard (supervisors and admins).
    path("supervisor/", dashboard.dashboard, name="dashboard"),
    path("supervisor/live/", dashboard.dashboard_live, name="dashboard_live"),
    path("supervisor/tickets/<int:pk>/release/", dashboard.release, name="dashboard_release"),
    path("supervisor/tickets/<int:pk>/reassign/", dashboard.reassign, name="dashboard_reassign"),
    path("supervisor/slg/", dashboard.slg_breaches, name="slg_breaches"),
    path("supervisor/tickets/<int:pk>/pin/", dispatch.pin, name="dashboard_pin"),
    # Dispatch: agents' availability, load and capacity.
    path("supervisor/agents/", dispatch.agents, name="agents"),
    path("supervisor/agents/<int:user_id>/", dispatch.agent_update, name="agent_update"),
    path("supervisor/export/<slug:table>.csv", exports.export, name="dashboard_export"),
    # Call lists and Callback records entered by hand (supervisors and admins).
    path("supervisor/imports/", imports.upload, name="imports"),
    path("supervisor/imports/<int:pk>/", imports.detail, name="import_detail"),
    path("supervisor/imports/<int:pk>/progress/", imports.progress, name="import_progress"),
    path("supervisor/imports/<int:pk>/cancel/", imports.cancel, name="import_cancel"),
    path("supervisor/callback-records/new/", imports.callback_record, name="callback_record"),
    # Escalation desk (Support works it; supervisors read it and hand escalations over).
    path("desk/", desk.desk, name="escalation_desk"),
    path("desk/<int:pk>/", desk.escalation, name="escalation"),
    path("desk/<int:pk>/take/", desk.take, name="escalation_take"),
    path("desk/<int:pk>/hand-over/", desk.hand_over, name="escalation_hand_over"),
    path("desk/<int:pk>/answer/", desk.answer, name="escalation_answer"),
    path("desk/<int:pk>/resolve/", desk.resolve, name="escalation_resolve"),
    # SLA policies (admins).
    path("sla-policies/", sla_policies.policies, name="sla_policies"),
    path("sla-policies/<slug:flow>/<int:priority>/", sla_policies.edit, name="sla_policy_edit"),
    path(
        "sla-policies/<slug:flow>/<int:priority>/reset/",
        sla_policies.reset,
        name="sla_policy_reset",
    ),
    # Message templates to customers (admins).
    path(
        "supervisor/message-templates/",
        customer_messages.templates,
        name="message_templates",
    ),
    path(
        "supervisor/message-templates/new/",
        customer_messages.template_new,
        name="message_template_new",
    ),
    path(
        "supervisor/message-templates/<int:pk>/",
        customer_messages.template_edit,
        name="message_template_edit",
    ),
]
