-- Question 4: past class failures by family size (LE3, GT3); the most frequent per size is
-- the answer.
select school, famsize, failures, count(*) as students
from {{ source('students', 'students') }}
group by school, famsize, failures
