-- Schema contexts (issue 14), as Confluent has them: a subject qualified as
-- `:.ctx:subject` lives in context `.ctx`, and schema ids are allocated per context.
--
-- A context is numbered when its first subject is registered; the default context `.` is
-- number 0 and has no row. A schema's stored id carries its context in the high 32 bits:
-- id = (context no << 32) | the id clients see (a positive int32). Ids of the default
-- context are therefore unchanged, and every other context's ids run from 1 on their
-- own. Subjects of a non-default context are stored qualified (`:.ctx:orders`).
CREATE TABLE contexts (
    no         BIGINT PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);
