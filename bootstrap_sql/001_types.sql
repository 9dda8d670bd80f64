-- Enumerations first: the seed created them after the tables that use them.
create type user_role_enum as enum ('ADMIN', 'READ_ONLY', 'SUPER_ADMIN');

create type error_level_enum as enum ('debug', 'info', 'warn', 'error', 'fatal');
