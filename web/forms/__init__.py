"""Parsing of query strings, forms and JSON bodies into domain values: ``params`` (query strings), ``base`` (the
form mechanism), ``cases`` (the case officer's forms), ``accounts`` (account, user and target forms), ``bodies``
(JSON bodies).
"""

from web.forms.base import (
    REASONS as REASONS,
)
from web.forms.base import (
    Form as Form,
)
from web.forms.base import (
    PostedForm as PostedForm,
)
from web.forms.base import (
    wording as wording,
)
from web.forms.bodies import (
    json_object as json_object,
)
from web.forms.bodies import (
    parse_trace as parse_trace,
)
from web.forms.bodies import (
    parse_visit as parse_visit,
)
from web.forms.bodies import (
    whole_number as whole_number,
)
from web.forms.cases import (
    BULK_ACTIONS as BULK_ACTIONS,
)
from web.forms.cases import (
    MAX_PARTY_ROWS as MAX_PARTY_ROWS,
)
from web.forms.cases import (
    BulkForm as BulkForm,
)
from web.forms.cases import (
    BulkInput as BulkInput,
)
from web.forms.cases import (
    CheckInput as CheckInput,
)
from web.forms.cases import (
    ChecklistForm as ChecklistForm,
)
from web.forms.cases import (
    CloseForm as CloseForm,
)
from web.forms.cases import (
    CompletionForm as CompletionForm,
)
from web.forms.cases import (
    LimitForm as LimitForm,
)
from web.forms.cases import (
    PlanForm as PlanForm,
)
from web.forms.cases import (
    ProgressForm as ProgressForm,
)
from web.forms.cases import (
    StepInput as StepInput,
)
from web.forms.cases import (
    TraceForm as TraceForm,
)
from web.forms.cases import (
    VisitForm as VisitForm,
)
from web.forms.params import (
    MAX_FILE_NAME_BYTES as MAX_FILE_NAME_BYTES,
)
from web.forms.params import (
    parse_bbox as parse_bbox,
)
from web.forms.params import (
    parse_date as parse_date,
)
from web.forms.params import (
    parse_filter as parse_filter,
)
from web.forms.params import (
    parse_int as parse_int,
)
from web.forms.params import (
    parse_paging as parse_paging,
)
