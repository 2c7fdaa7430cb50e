-- What discovery learned of each CodePipeline pipeline at one version
-- (names, ARN, stage and action names, owner/repo/branch, names of masked
-- properties: nothing secret), so that no process reads a pipeline again
-- while its version is unchanged. place names one account view (endpoint,
-- region, profile, role); facts is the target's JSON. A cache: losing it
-- costs reads, never a wrong write, and Migrate does not copy it.
CREATE TABLE pipeline_inventory (
    place      TEXT   NOT NULL,
    pipeline   TEXT   NOT NULL,
    facts      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (place, pipeline)
);
