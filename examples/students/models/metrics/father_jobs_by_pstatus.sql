-- Question 3: father's jobs by parents' cohabitation status (T together, A apart); the
-- three largest per status are the answer.
select school, pstatus, fjob, count(*) as students
from {{ source('students', 'students') }}
group by school, pstatus, fjob
