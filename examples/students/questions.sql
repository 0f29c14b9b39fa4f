-- The design's five questions over the student dataset loaded by the CSV drop source
-- (table raw.students; see docs/sources-csv.md), in SQL that DuckDB and PostgreSQL read
-- alike. The same SQL is importable as STUDENT_QUESTIONS from student_data.py beside this
-- file. Run one with, for example:
--   eventlake query "SELECT DISTINCT mjob FROM raw.students WHERE sex = 'M' AND age < 20 ORDER BY mjob"

-- name: mother_jobs_of_young_males
-- Distinct mother's job of male students under 20.
SELECT DISTINCT mjob FROM raw.students WHERE sex = 'M' AND age < 20 ORDER BY mjob;

-- name: rural_travel_time_mode
-- Most frequent travel time of rural students (ties: the shorter travel time).
SELECT traveltime, count(*) AS students FROM raw.students WHERE address = 'R'
GROUP BY traveltime ORDER BY students DESC, traveltime LIMIT 1;

-- name: top_father_jobs_by_pstatus
-- Top 3 father's jobs for each parents' cohabitation status (T together, A apart).
SELECT pstatus, fjob, students FROM (SELECT pstatus, fjob, count(*) AS students,
row_number() OVER (PARTITION BY pstatus ORDER BY count(*) DESC, fjob) AS place
FROM raw.students GROUP BY pstatus, fjob) AS ranked WHERE place <= 3
ORDER BY pstatus, place;

-- name: failures_mode_by_famsize
-- Most frequent number of past class failures for each family size (LE3, GT3).
SELECT famsize, failures, students FROM (SELECT famsize, failures, count(*) AS students,
row_number() OVER (PARTITION BY famsize ORDER BY count(*) DESC, failures) AS place
FROM raw.students GROUP BY famsize, failures) AS ranked WHERE place = 1 ORDER BY famsize;

-- name: median_absences_by_sex_low_famrel
-- Median absences by sex among students whose family relationship quality is 1 to 3.
SELECT sex, percentile_cont(0.5) WITHIN GROUP (ORDER BY absences) AS median_absences
FROM raw.students WHERE famrel BETWEEN 1 AND 3 GROUP BY sex ORDER BY sex;
