"""Every write to the ledger goes through these functions.

Each takes the session keyword-only and runs inside the caller's
`billing.db.write_session`, so one user action (or one whole CSV import) is one
transaction: role check, validation, invariants, audit row, all or nothing.
"""

from billing.services.activities import ActivityCreate, add_activity
from billing.services.adjustments import AdjustmentCreate, adjust_invoice
from billing.services.customers import (
    CustomerCreate,
    CustomerUpdate,
    assign_owner,
    create_customer,
    update_customer,
)
from billing.services.disputes import (
    DisputeOpen,
    close_dispute,
    open_dispute,
    resolve_dispute_with_credit_note,
)
from billing.services.dunning import record_letter_sent
from billing.services.invoices import (
    InvoiceCreate,
    LineCreate,
    create_invoice,
    post_invoice,
    void_invoice,
)
from billing.services.payments import (
    Applied,
    PaymentCreate,
    PaymentPosted,
    allocate_payment,
    post_payment,
)
from billing.services.settings import SettingsUpdate, set_lock_date, update_settings
from billing.services.users import (
    add_user,
    hash_password,
    reset_password,
    set_user_active,
    set_user_role,
    verify_password,
)

__all__ = [
    "ActivityCreate",
    "AdjustmentCreate",
    "Applied",
    "CustomerCreate",
    "CustomerUpdate",
    "DisputeOpen",
    "InvoiceCreate",
    "LineCreate",
    "PaymentCreate",
    "PaymentPosted",
    "SettingsUpdate",
    "add_activity",
    "add_user",
    "adjust_invoice",
    "allocate_payment",
    "assign_owner",
    "close_dispute",
    "create_customer",
    "create_invoice",
    "hash_password",
    "open_dispute",
    "post_invoice",
    "post_payment",
    "record_letter_sent",
    "reset_password",
    "resolve_dispute_with_credit_note",
    "set_lock_date",
    "set_user_active",
    "set_user_role",
    "update_customer",
    "update_settings",
    "verify_password",
    "void_invoice",
]
