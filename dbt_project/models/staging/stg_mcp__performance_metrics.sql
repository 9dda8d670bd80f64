with

source as (

    select * from {{ source('mcp', 'performance_metrics') }}

),

renamed as (

    select
        id as metric_sample_id,
        metric_name,
        metric_value,
        labels,
        "timestamp" as measured_at,
        aggregation_period,
        measurement_type,
        unit,
        service,
        environment
    from source

)

select * from renamed
