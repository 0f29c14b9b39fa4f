-- Question 2: travel times of rural students (the most frequent is the answer).
select school, traveltime, count(*) as students
from {{ source('students', 'students') }}
where address = 'R'
group by school, traveltime
