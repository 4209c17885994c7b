-- Every row of the mart has its own x_RowKey. Returns each key that repeats, with the source
-- partitions (dataset/export/month) holding its copies, so a failure says which delivery to look at.
select
    string_agg(distinct x_SourcePartition, ', ' order by x_SourcePartition) as x_SourcePartition,
    x_RowKey,
    count(*) as copies
from {{ ref('cost_and_usage') }}
group by x_RowKey
having count(*) > 1
