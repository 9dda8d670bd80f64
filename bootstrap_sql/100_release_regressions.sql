-- Release regressions (docs/analytics.md, "Release regressions"): analytics.tool_regressions
-- lists the tools whose server's newest version (and, period over period, whose last 7 days)
-- is worse than before: an error rate higher at p < alpha, or a p95 more than max_p95_ratio
-- times the one before, with at least min_calls calls on each side. The thresholds live here;
-- the p-value needs the normal distribution, which SQL has only from PostgreSQL 16 (erfc), so
-- this file brings its own (the same function on every supported version).

insert into system_configuration (
    config_key, config_value, description, config_type, is_sensitive, validation_schema
) values (
    'analytics.regressions',
    '{"alpha": 0.01, "min_calls": 100, "max_p95_ratio": 1.25}',
    'Release and week-over-week regressions of tools (analytics.tool_regressions): an error '
    'rate (caller errors left out) is a regression when higher with a two-sided p-value below '
    'alpha; a p95 when more than max_p95_ratio times the one before; both need min_calls calls '
    'on each side.',
    'analytics',
    false,
    '{"type": "object", "required": ["alpha", "min_calls", "max_p95_ratio"],
      "additionalProperties": false,
      "properties": {
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "min_calls": {"type": "integer", "minimum": 1},
        "max_p95_ratio": {"type": "number", "minimum": 1}}}'
) on conflict (config_key) do nothing;

-- One threshold of analytics.regressions: alpha (0.01 when unset), min_calls (100),
-- max_p95_ratio (1.25). A value out of range is an error naming the key, so a typo fails the
-- build instead of hiding or inventing regressions.
create function mcp_regression_threshold(p_name text)
returns numeric
language plpgsql
stable
parallel safe
set search_path = public, pg_temp
as $$
declare
    v_value jsonb;
    v_number numeric;
begin
    if p_name not in ('alpha', 'min_calls', 'max_p95_ratio') then
        raise exception 'mcp_regression_threshold: unknown threshold %', p_name
            using errcode = 'invalid_parameter_value',
            hint = 'one of alpha, min_calls, max_p95_ratio';
    end if;
    select c.config_value -> p_name into v_value
    from public.system_configuration as c
    where c.config_key = 'analytics.regressions';
    if v_value is null then
        v_value := case p_name
            when 'alpha' then '0.01'::jsonb
            when 'min_calls' then '100'::jsonb
            else '1.25'::jsonb
        end;
    end if;
    if jsonb_typeof(v_value) = 'number' then
        v_number := v_value::numeric;
    end if;
    if v_number is null
        or (p_name = 'alpha' and (v_number <= 0 or v_number >= 1))
        or (p_name = 'min_calls' and (v_number < 1 or v_number <> trunc(v_number)))
        or (p_name = 'max_p95_ratio' and v_number < 1) then
        raise exception 'system_configuration analytics.regressions: % must be %, got %',
            p_name,
            case p_name
                when 'alpha' then 'a number between 0 and 1 (exclusive)'
                when 'min_calls' then 'a whole number of calls, at least 1'
                else 'a number, at least 1'
            end,
            v_value
            using errcode = 'invalid_parameter_value',
            hint = 'e.g. {"alpha": 0.01, "min_calls": 100, "max_p95_ratio": 1.25}';
    end if;
    return v_number;
end;
$$;

comment on function mcp_regression_threshold(text) is
'A threshold of system_configuration analytics.regressions: alpha (0.01), min_calls (100) or '
'max_p95_ratio (1.25); an error naming the key when out of range.';

-- The complementary error function, erfc(x) = 1 - erf(x), by the Chebyshev fit of Numerical
-- Recipes (Press, Teukolsky, Vetterling, Flannery, "Numerical Recipes in C", 2nd ed., 1992,
-- section 6.2, function erfcc): fractional error below 1.2e-7 for every x. It keeps that
-- relative precision in the far tail, where 1 - erf(x) would round to 0, so the p-values
-- below stay meaningful down to about 1e-295 (0 beyond |x| = 26). PostgreSQL 16 added erfc();
-- 15 has none.
create function mcp_erfc(x double precision)
returns double precision
language sql
immutable
strict
parallel safe
as $$
    select case when x >= 0 then fitted.r else 2.0 - fitted.r end
    from (select 1.0 / (1.0 + 0.5 * abs(x)) as t) as s
    cross join lateral (
        -- beyond 26, erfc(x) < 6e-296: exp() would underflow (an error in PostgreSQL)
        select
            case when abs(x) > 26 then 0.0 else s.t * exp(
                -x * x - 1.26551223
                + s.t * (1.00002368
                + s.t * (0.37409196
                + s.t * (0.09678418
                + s.t * (-0.18628806
                + s.t * (0.27886807
                + s.t * (-1.13520398
                + s.t * (1.48851587
                + s.t * (-0.82215223
                + s.t * 0.17087277))))))))
            ) end as r
    ) as fitted
$$;

comment on function mcp_erfc(double precision) is
'erfc(x) = 1 - erf(x), Numerical Recipes'' erfcc (fractional error < 1.2e-7 everywhere).';

-- Two-sided p-value of the pooled two-proportion z-test: are errors_after / calls_after and
-- errors_before / calls_before the same proportion? z = (p_after - p_before) / sqrt(p (1 - p)
-- (1 / calls_before + 1 / calls_after)) with p the pooled proportion; p-value = P(|Z| >= |z|)
-- = erfc(|z| / sqrt(2)). 1 when both sides have no error or only errors (no difference to
-- see); null when a side has no call. Errors outside [0, calls] are an error.
create function mcp_two_proportion_p_value(
    errors_before bigint, calls_before bigint, errors_after bigint, calls_after bigint
)
returns double precision
language plpgsql
immutable
strict
parallel safe
set search_path = public, pg_temp
as $$
declare
    v_pooled double precision;
    v_z double precision;
begin
    if errors_before < 0 or errors_after < 0 or calls_before < 0 or calls_after < 0
        or errors_before > calls_before or errors_after > calls_after then
        raise exception 'mcp_two_proportion_p_value: errors must lie between 0 and the calls, '
            'got %/% and %/%', errors_before, calls_before, errors_after, calls_after
            using errcode = 'invalid_parameter_value';
    end if;
    if calls_before = 0 or calls_after = 0 then
        return null;
    end if;
    v_pooled := (errors_before + errors_after)::double precision / (calls_before + calls_after);
    if v_pooled = 0 or v_pooled = 1 then
        return 1;
    end if;
    v_z := (errors_after::double precision / calls_after
        - errors_before::double precision / calls_before)
        / sqrt(v_pooled * (1 - v_pooled) * (1.0 / calls_before + 1.0 / calls_after));
    return least(1, mcp_erfc(abs(v_z) / sqrt(2.0)));
end;
$$;

comment on function mcp_two_proportion_p_value(bigint, bigint, bigint, bigint) is
'Two-sided p-value of the pooled two-proportion z-test (errors_before/calls_before against '
'errors_after/calls_after); 1 with no difference to see, null when a side has no call.';

grant execute on function mcp_regression_threshold(text) to mcp_analyst, mcp_admin;
grant execute on function mcp_erfc(double precision) to mcp_analyst, mcp_admin;
grant execute on function mcp_two_proportion_p_value(bigint, bigint, bigint, bigint)
to mcp_analyst, mcp_admin;
