-- Quantiles of a packed histogram by arithmetic, without writing its buckets out
-- (docs/dbt.md, "Percentiles over any window").
--
-- 105 read a packed histogram's quantiles by unpacking it: the number written out as text
-- (~35,000 digits for 30 days of a tool, mostly the zeros below the lowest bucket), split into
-- 16-digit fields by a regular expression, each field cast, window sums over the non-empty
-- buckets. ~3 ms a histogram, most of a 30-day p95 per tool (24 tools) on the demo.
--
-- The same answer from three numeric operations and a binary search. With B = 10^16 and the
-- fields f_0..f_n of the histogram shifted down to its lowest non-empty field (x = sum f_i B^i),
-- B^i = 1 + (B - 1) (B^(i-1) + ... + 1), so
--
--     x = S + (B - 1) * sum_j B^j T_j,   S = sum f_i,   T_j = f_(j+1) + ... + f_n
--
-- and, while S < B - 1, dividing x by B - 1 gives the total count S as the remainder and a
-- quotient whose field j is T_j, the number of values above field j (T_j <= S < B, so no field
-- carries into the next). The values up to field j are S - T_j, non-decreasing in j, so the
-- bucket of an order statistic is found by bisection, reading only the fields it probes.
-- numeric_send gives the quotient's base-10000 digits (4 to a field) as bytes, and get_byte
-- reads one in constant time. Same buckets, representatives and percentile_cont
-- interpolation as 105 (the values are identical, tested against 105's function); exact while
-- a histogram holds fewer than 10^16 - 1 values, the limit of one bucket's field in 105.
--
-- The function has no query inside, so it needs no nested-loop setting of its own (105's set
-- clause cost a configuration change at every call, and prevented inlining). It reads the
-- fields it probes with mart_hist_sent_field, defined in 117 (a plpgsql body is resolved when
-- it runs, and nothing calls it before 117).
--
-- Before the first release this file defined a function reading the digits itself, which 117
-- replaced by this one; now this file defines the final function and 117 no longer does, so
-- both texts of each file end in the same state.

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
