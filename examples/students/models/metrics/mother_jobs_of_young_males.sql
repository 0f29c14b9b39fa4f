-- Question 1: the mother's jobs of male students under 20 (every job with its students).
select school, mjob, count(*) as students
from {{ source('students', 'students') }}
where sex = 'M' and age < 20
group by school, mjob
