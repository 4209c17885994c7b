-- Legacy CUR and CUR 2.0 line items in one shape (an account may deliver either or both).
select * from {{ ref('stg_aws__cur1_line_items') }}
union all by name
select * from {{ ref('stg_aws__cur2_line_items') }}
