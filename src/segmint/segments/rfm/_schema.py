"""Column names of the ``rfm`` table (and of the features it reads), in one place."""

from __future__ import annotations

#: the table of RFM scores: one row per customer per as-of
RFM = "rfm"


class RC:
    """Columns of :func:`rfm_scores` and of the ``rfm`` table."""

    CUSTOMER_ID = "customer_id"
    AS_OF = "as_of"
    RECENCY_DAYS = "recency_days"
    FREQUENCY = "frequency"
    MONETARY = "monetary"
    R_SCORE = "r_score"
    F_SCORE = "f_score"
    M_SCORE = "m_score"
    FM_SCORE = "fm_score"
    RFM_SCORE = "rfm_score"
    RFM_SEGMENT = "rfm_segment"
    GRID_R = "grid_r"
    GRID_FM = "grid_fm"


#: the feature columns RFM reads
INPUT = (RC.CUSTOMER_ID, RC.AS_OF, RC.RECENCY_DAYS, RC.FREQUENCY, RC.MONETARY)

#: the stored table, in column order (DuckDB type names, as ``ensure_table`` takes them)
SCHEMA = {
    RC.CUSTOMER_ID: "VARCHAR",
    RC.AS_OF: "TIMESTAMP",
    RC.RECENCY_DAYS: "DOUBLE",
    RC.FREQUENCY: "BIGINT",
    RC.MONETARY: "DOUBLE",
    RC.R_SCORE: "BIGINT",
    RC.F_SCORE: "BIGINT",
    RC.M_SCORE: "BIGINT",
    RC.FM_SCORE: "BIGINT",
    RC.RFM_SCORE: "VARCHAR",
    RC.RFM_SEGMENT: "VARCHAR",
    RC.GRID_R: "BIGINT",
    RC.GRID_FM: "BIGINT",
}
