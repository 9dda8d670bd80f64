-- Packed histograms read from the bytes of numeric_send (docs/dbt.md, "Percentiles over any
-- window"), one reader for the quantiles (116) and the buckets.
--
-- 105's mart_hist_unpack wrote the number out as text (~35,000 digits for 30 days of a tool,
-- mostly the zeros below the lowest bucket) and split it into 16-digit fields with a regular
-- expression. numeric_send gives the number's base-10000 digits, highest first, without the
-- zero digits at either end: a 16-digit field is 4 of them, and get_byte reads one in constant
-- time. mart_hist_unpack now lists the fields from the lowest to the highest non-empty one from
-- those bytes (same rows, same order), and so mart_hist_count and mart_hist_to_jsonb, which
-- read it, follow; 116's quantiles read their probed fields with the same function.
--
-- numeric_send's image: int16 ndigits, int16 weight (of the first digit: 10000^weight), int16
-- sign, int16 dscale, then ndigits int16 digits. A packed histogram is a non-negative integer,
-- so its weight is 0..13,315 and its digits' weights run down to weight - ndigits + 1 >= 0.

-- Base-10000 digit of weight k (10000^k) of a non-negative integer, from its numeric_send
-- image `digits` and that image's ndigits and weight (read once by the caller); 0 where the
-- number has no digit. Expressions only, not STRICT: the planner inlines it.
create or replace function mart_hist_sent_digit(
    digits bytea, ndigits integer, weight integer, k integer
)
returns bigint
language sql
immutable
parallel safe
as $$
    select case
        when weight - k between 0 and ndigits - 1
            then (
                (get_byte(digits, 8 + 2 * (weight - k)) << 8)
                | get_byte(digits, 9 + 2 * (weight - k))
            )::bigint
        else 0
    end;
$$;

-- Field `field` (the 16 decimal digits at 10^(16 * field)): bucket field - 1665's count.
create or replace function mart_hist_sent_field(
    digits bytea, ndigits integer, weight integer, field integer
)
returns bigint
language sql
immutable
parallel safe
as $$
    select
        public.mart_hist_sent_digit(digits, ndigits, weight, 4 * field + 3) * 1000000000000
        + public.mart_hist_sent_digit(digits, ndigits, weight, 4 * field + 2) * 100000000
        + public.mart_hist_sent_digit(digits, ndigits, weight, 4 * field + 1) * 10000
        + public.mart_hist_sent_digit(digits, ndigits, weight, 4 * field);
$$;

-- The non-empty buckets of a packed histogram, lowest first, as 105's (no nested-loop setting:
-- there is no join). The image is computed once (materialized), then one row per field.
create or replace function mart_hist_unpack(h numeric)
returns table (bucket integer, bucket_count bigint)
language sql
immutable
parallel safe
as $$
    with sent as materialized (
        select
            image.digits,
            (get_byte(image.digits, 0) << 8) | get_byte(image.digits, 1) as ndigits,
            (get_byte(image.digits, 2) << 8) | get_byte(image.digits, 3) as weight
        from (select numeric_send(trunc(h)) as digits where h >= 1) as image
    ),

    fields as (
        select
            sent.digits,
            sent.ndigits,
            sent.weight,
            generate_series((sent.weight - sent.ndigits + 1) >> 2, sent.weight >> 2) as field
        from sent
    ),

    counted as (
        select
            (fields.field - 1665)::integer as bucket,
            public.mart_hist_sent_field(
                fields.digits, fields.ndigits, fields.weight, fields.field
            ) as bucket_count
        from fields
    )

    select counted.bucket, counted.bucket_count
    from counted
    where counted.bucket_count > 0
    order by counted.bucket;
$$;

comment on function mart_hist_unpack(numeric) is
'(bucket, bucket_count) of each non-empty bucket of a packed histogram, lowest bucket first.';

-- 116's quantiles, reading the fields they probe with mart_hist_sent_field (same values).
create or replace function mart_hist_quantiles(h numeric, qs double precision [])
returns double precision []
language plpgsql
immutable
parallel safe
as $$
declare
    x numeric := trunc(h);
    digits bytea;
    top_weight integer;
    shift integer;
    top integer;
    above numeric;
    total numeric;
    above_digits bytea;
    above_ndigits integer;
    above_weight integer;
    q double precision;
    rank_pos double precision;
    target double precision;
    field_at integer [];
    lo integer;
    hi integer;
    mid integer;
    value_lo double precision;
    value_hi double precision;
    result double precision [] := '{}';
begin
    if x is null or x < 1 or qs is null or cardinality(qs) = 0 then
        return null;
    end if;
    -- numeric_send: int16 ndigits, int16 weight (of the first digit), sign, dscale, then the
    -- base-10000 digits, highest first, without the zero digits at either end.
    digits := numeric_send(x);
    top_weight := (get_byte(digits, 2) << 8) | get_byte(digits, 3);
    shift := (top_weight - ((get_byte(digits, 0) << 8) | get_byte(digits, 1)) + 1) >> 2;
    top := (top_weight >> 2) - shift;
    x := div(x, ('1e' || (16 * shift))::numeric);
    above := div(x, 9999999999999999);
    total := x - above * 9999999999999999;
    above_digits := numeric_send(above);
    above_ndigits := (get_byte(above_digits, 0) << 8) | get_byte(above_digits, 1);
    above_weight := (get_byte(above_digits, 2) << 8) | get_byte(above_digits, 3);
    foreach q in array qs loop
        rank_pos := q * (total - 1);
        -- the order statistics at floor and ceil of rank_pos (0-based): each is in the lowest
        -- field whose values up to and including it outnumber its rank; none past the total
        field_at := array[null, null]::integer [];
        for side in 1 .. 2 loop
            target := case side when 1 then floor(rank_pos) else ceil(rank_pos) end;
            exit when target is null or target >= total;
            lo := coalesce(field_at[1], 0);
            hi := top;
            while lo < hi loop
                mid := (lo + hi) >> 1;
                if total - public.mart_hist_sent_field(
                    above_digits, above_ndigits, above_weight, mid
                ) > target then
                    hi := mid;
                else
                    lo := mid + 1;
                end if;
            end loop;
            field_at[side] := lo;
        end loop;
        value_lo := public.mart_hist_bucket_value(field_at[1] + shift - 1665);
        value_hi := public.mart_hist_bucket_value(field_at[2] + shift - 1665);
        result := result || (value_lo + (rank_pos - floor(rank_pos)) * (value_hi - value_lo));
    end loop;
    return result;
end;
$$;

comment on function mart_hist_quantiles(numeric, double precision []) is
'Quantiles qs (each 0..1) of a packed histogram, by arithmetic on the number (no unpacking); '
'relative error <= 1/128 against percentile_cont for non-negative values; null for an empty '
'histogram. Exact while the histogram holds fewer than 10^16 - 1 values.';
