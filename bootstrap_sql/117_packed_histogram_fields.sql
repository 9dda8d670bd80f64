-- Packed histograms read from the bytes of numeric_send (docs/dbt.md, "Percentiles over any
-- window"), one reader for the quantiles (116) and the buckets.
--
-- 105's mart_hist_unpack wrote the number out as text (~35,000 digits for 30 days of a tool,
-- mostly the zeros below the lowest bucket) and split it into 16-digit fields with a regular
-- expression. numeric_send gives the number's base-10000 digits, highest first, without the
-- zero digits at either end: a 16-digit field is 4 of them, and get_byte reads one in constant
-- time. mart_hist_unpack now lists the fields from the lowest to the highest non-empty one from
-- those bytes (same rows, same order), and so mart_hist_count and mart_hist_to_jsonb, which
-- read it, follow; 116's quantiles read their probed fields with mart_hist_sent_field.
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
