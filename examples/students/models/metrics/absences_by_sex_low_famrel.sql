-- Question 5: median absences by sex among students whose family relationship quality is
-- 1 to 3. A median does not add up across rows, so this model has one row per sex (no
-- school) and declares the median without an aggregation.
select
    sex,
    count(*) as students,
    percentile_cont(0.5) within group (order by absences) as median_absences
from {{ source('students', 'students') }}
where famrel between 1 and 3
group by sex
