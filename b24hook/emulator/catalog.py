"""Field catalogs: which columns each entity has and how each API names them.

One row of ``crm_item`` holds any CRM entity; the catalog decides which
columns a type exposes, its camelCase name (``crm.item.*``) and its legacy
UPPER_SNAKE name (``crm.deal.*`` …).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    col: str            # SQL column
    camel: str          # crm.item name
    upper: str          # legacy name (also crm.item's upperName)
    type: str           # integer|string|double|datetime|date|char|crm_status|user|crm_currency|crm_company|crm_contact|crm_category
                        # user fields: money ("1500.00|USD"), boolean (stored 1/0), enumeration (item ids)
    title: str
    read_only: bool = False
    required: bool = False
    multiple: bool = False
    dynamic: bool = False   # user field
    status_type: str | None = None
    items: tuple[tuple[int, str], ...] = ()   # enumeration: (ID, VALUE) of each list item


def F(col: str, camel: str, upper: str, typ: str, title: str, **kw: Any) -> Field:
    return Field(col, camel, upper, typ, title, **kw)


_ID = F("id", "id", "ID", "integer", "ID", read_only=True)
_CREATED_BY = F("created_by", "createdBy", "CREATED_BY_ID", "user", "Created by", read_only=True)
_UPDATED_BY = F("updated_by", "updatedBy", "MODIFY_BY_ID", "user", "Modified by", read_only=True)
_CREATED = F("created_time", "createdTime", "DATE_CREATE", "datetime", "Created on", read_only=True)
_UPDATED = F("updated_time", "updatedTime", "DATE_MODIFY", "datetime", "Modified on", read_only=True)
_ASSIGNED = F("assigned_by_id", "assignedById", "ASSIGNED_BY_ID", "user", "Responsible person")
_OPENED = F("opened", "opened", "OPENED", "char", "Available to everyone")
_COMMENTS = F("comments", "comments", "COMMENTS", "string", "Comment")
_CURRENCY = F("currency_id", "currencyId", "CURRENCY_ID", "crm_currency", "Currency")
_OPPORTUNITY = F("opportunity", "opportunity", "OPPORTUNITY", "double", "Amount")
_SOURCE = F("source_id", "sourceId", "SOURCE_ID", "crm_status", "Source", status_type="SOURCE")
_COMPANY = F("company_id", "companyId", "COMPANY_ID", "crm_company", "Company")
_CONTACT = F("contact_id", "contactId", "CONTACT_ID", "crm_contact", "Contact")
_NAME = F("name", "name", "NAME", "string", "First name")
_SECOND = F("second_name", "secondName", "SECOND_NAME", "string", "Second name")
_LAST = F("last_name", "lastName", "LAST_NAME", "string", "Last name")
_HONORIFIC = F("honorific", "honorific", "HONORIFIC", "crm_status", "Salutation", status_type="HONORIFIC")
_POST = F("post", "post", "POST", "string", "Position")
_BIRTH = F("birthdate", "birthdate", "BIRTHDATE", "date", "Date of birth")
_PHONE = F("phone", "phone", "PHONE", "crm_multifield", "Phone", multiple=True)
_EMAIL = F("email", "email", "EMAIL", "crm_multifield", "E-mail", multiple=True)
_MOVED_BY = F("moved_by", "movedBy", "MOVED_BY_ID", "user", "Moved by", read_only=True)
_MOVED = F("moved_time", "movedTime", "MOVED_TIME", "datetime", "Moved on", read_only=True)
_BEGIN = F("begindate", "begindate", "BEGINDATE", "date", "Start date")
_CLOSE = F("closedate", "closedate", "CLOSEDATE", "date", "End date")
_CATEGORY = F("category_id", "categoryId", "CATEGORY_ID", "crm_category", "Pipeline")

LEAD = [
    _ID, F("title", "title", "TITLE", "string", "Lead name", required=True), _HONORIFIC,
    _NAME, _SECOND, _LAST, _BIRTH,
    F("company_title", "companyTitle", "COMPANY_TITLE", "string", "Company name"),
    _SOURCE, F("stage_id", "stageId", "STATUS_ID", "crm_status", "Stage", status_type="STATUS"),
    _POST, _COMMENTS, _CURRENCY, _OPPORTUNITY, _OPENED, _ASSIGNED, _CREATED_BY, _UPDATED_BY,
    _CREATED, _UPDATED, _COMPANY, _CONTACT, _MOVED_BY, _MOVED, _PHONE, _EMAIL,
]
# Deal user fields of the emulated portal, one of each kind the real portals
# answer with (fixtures/real-responses/crm_lead_fields_success.json has money
# and string UFs): crm.deal.* names them UF_CRM_<n>, crm.item.* ufCrm_<n>.
DEAL_TAGS = ((45, "Hot"), (46, "Partner"), (47, "Tender"))
DEAL_UF = [
    F("uf_budget", "ufCrm_1700000001", "UF_CRM_1700000001", "money", "Budget", dynamic=True),
    F("uf_vip", "ufCrm_1700000002", "UF_CRM_1700000002", "boolean", "VIP client", dynamic=True),
    F("uf_tags", "ufCrm_1700000003", "UF_CRM_1700000003", "enumeration", "Tags", dynamic=True,
      multiple=True, items=DEAL_TAGS),
]
DEAL = [
    _ID, F("title", "title", "TITLE", "string", "Name"),
    F("stage_id", "stageId", "STAGE_ID", "crm_status", "Stage", status_type="DEAL_STAGE"),
    _CATEGORY, F("probability", "probability", "PROBABILITY", "integer", "Probability"),
    _CURRENCY, _OPPORTUNITY, _COMPANY, _CONTACT, _BEGIN, _CLOSE,
    F("closed", "closed", "CLOSED", "char", "Closed"), _OPENED, _COMMENTS, _SOURCE,
    _ASSIGNED, _CREATED_BY, _UPDATED_BY, _CREATED, _UPDATED, _MOVED_BY, _MOVED,
    *DEAL_UF,
]
CONTACT = [
    _ID, _HONORIFIC, _NAME, _SECOND, _LAST, _POST, _BIRTH, _COMPANY, _SOURCE, _COMMENTS,
    _OPENED, _ASSIGNED, _CREATED_BY, _UPDATED_BY, _CREATED, _UPDATED, _PHONE, _EMAIL,
]
COMPANY = [
    _ID, F("title", "title", "TITLE", "string", "Company name", required=True),
    F("company_type", "companyType", "COMPANY_TYPE", "crm_status", "Company type", status_type="COMPANY_TYPE"),
    F("industry", "industry", "INDUSTRY", "crm_status", "Industry", status_type="INDUSTRY"),
    F("employees", "employees", "EMPLOYEES", "crm_status", "Employees", status_type="EMPLOYEES_LIST"),
    F("revenue", "revenue", "REVENUE", "double", "Annual revenue"),
    _CURRENCY, _COMMENTS, _OPENED, _ASSIGNED, _CREATED_BY, _UPDATED_BY, _CREATED, _UPDATED,
    _PHONE, _EMAIL,
]


def spa_fields(type_id: int, uf_suffix: str = "1712074666") -> list[Field]:
    n = SPA_TYPES[type_id]["id"]
    return [
        _ID, F("xml_id", "xmlId", "XML_ID", "string", "External ID"),
        F("title", "title", "TITLE", "string", "Name"), _CREATED_BY, _UPDATED_BY, _MOVED_BY,
        _CREATED, _UPDATED, _MOVED, _CATEGORY,
        F("stage_id", "stageId", "STAGE_ID", "crm_status", "Stage", status_type=f"DYNAMIC_{type_id}_STAGE_1"),
        _OPPORTUNITY, _CURRENCY, _ASSIGNED, _COMPANY, _CONTACT, _BEGIN, _CLOSE, _OPENED,
        F("uf1", f"ufCrm{n}_{uf_suffix}", f"UF_CRM_{n}_{uf_suffix}", "datetime", "Event date",
          dynamic=True),
    ]


# Smart processes of the emulated portal: entityTypeId -> description.
SPA_TYPES: dict[int, dict[str, Any]] = {
    128: {"id": 1, "title": "Projects"},
    1256: {"id": 2, "title": "Events"},
}

ENTITY_NAMES = {1: "lead", 2: "deal", 3: "contact", 4: "company"}
LEGACY_TYPES = {"lead": 1, "deal": 2, "contact": 3, "company": 4}


def fields_for(entity_type_id: int) -> list[Field] | None:
    if entity_type_id == 1:
        return LEAD
    if entity_type_id == 2:
        return DEAL
    if entity_type_id == 3:
        return CONTACT
    if entity_type_id == 4:
        return COMPANY
    if entity_type_id in SPA_TYPES:
        return spa_fields(entity_type_id)
    return None


ALL_COLUMNS = [
    ("entity_type_id", "INTEGER NOT NULL"), ("id", "INTEGER NOT NULL"),
    ("xml_id", "TEXT"), ("title", "TEXT"), ("honorific", "TEXT"), ("name", "TEXT"),
    ("second_name", "TEXT"), ("last_name", "TEXT"), ("birthdate", "TEXT"),
    ("company_title", "TEXT"), ("source_id", "TEXT"), ("stage_id", "TEXT"),
    ("category_id", "INTEGER"), ("probability", "INTEGER"), ("post", "TEXT"),
    ("comments", "TEXT"), ("currency_id", "TEXT"), ("opportunity", "REAL"),
    ("opened", "TEXT"), ("closed", "TEXT"), ("assigned_by_id", "INTEGER"),
    ("created_by", "INTEGER"), ("updated_by", "INTEGER"), ("moved_by", "INTEGER"),
    ("created_time", "TEXT"), ("updated_time", "TEXT"), ("moved_time", "TEXT"),
    ("company_id", "INTEGER"), ("contact_id", "INTEGER"), ("begindate", "TEXT"),
    ("closedate", "TEXT"), ("company_type", "TEXT"), ("industry", "TEXT"),
    ("employees", "TEXT"), ("revenue", "REAL"), ("phone", "TEXT"), ("email", "TEXT"),
    ("uf1", "TEXT"), ("uf_budget", "TEXT"), ("uf_vip", "TEXT"), ("uf_tags", "TEXT"),
]

# ---- tasks (v2 names: UPPER filter/select keys, camelCase output) ----
TASK_COLUMNS = [
    # col, UPPER, camel, type
    ("id", "ID", "id", "integer"),
    ("title", "TITLE", "title", "string"),
    ("description", "DESCRIPTION", "description", "string"),
    ("priority", "PRIORITY", "priority", "integer"),
    ("status", "STATUS", "status", "integer"),
    ("responsible_id", "RESPONSIBLE_ID", "responsibleId", "integer"),
    ("created_by", "CREATED_BY", "createdBy", "integer"),
    ("group_id", "GROUP_ID", "groupId", "integer"),
    ("deadline", "DEADLINE", "deadline", "datetime"),
    ("created_date", "CREATED_DATE", "createdDate", "datetime"),
    ("changed_date", "CHANGED_DATE", "changedDate", "datetime"),
    ("closed_date", "CLOSED_DATE", "closedDate", "datetime"),
]

USER_COLUMNS = [
    ("id", "ID", "integer"), ("xml_id", "XML_ID", "string"), ("active", "ACTIVE", "bool"),
    ("name", "NAME", "string"), ("last_name", "LAST_NAME", "string"),
    ("second_name", "SECOND_NAME", "string"), ("email", "EMAIL", "string"),
    ("login", "LOGIN", "string"),
    ("last_login", "LAST_LOGIN", "datetime"), ("date_register", "DATE_REGISTER", "datetime"),
    ("time_zone", "TIME_ZONE", "string"), ("personal_gender", "PERSONAL_GENDER", "string"),
    ("personal_birthday", "PERSONAL_BIRTHDAY", "date"),
    ("work_position", "WORK_POSITION", "string"), ("uf_department", "UF_DEPARTMENT", "intlist"),
    ("is_admin", "IS_ADMIN", "bool"), ("user_type", "USER_TYPE", "string"),
]
