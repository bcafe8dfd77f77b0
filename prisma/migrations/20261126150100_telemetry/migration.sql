-- Telemetry (issue #4): per-second and per-minute per-VIP rows, backend health.

-- Adds two {key: number} objects key by key; the ingest upsert and the rollups merge reasons and
-- histogram buckets with it, so several agents can add into one row in a single statement.
CREATE FUNCTION "slipstream_jsonb_add"(a JSONB, b JSONB) RETURNS JSONB
LANGUAGE SQL IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb) FROM (
    SELECT key AS k, sum(value::numeric) AS v
    FROM (SELECT * FROM jsonb_each_text(coalesce(a, '{}'::jsonb))
          UNION ALL SELECT * FROM jsonb_each_text(coalesce(b, '{}'::jsonb))) e
    GROUP BY key
  ) s
$$;

CREATE AGGREGATE "slipstream_jsonb_sum"(JSONB) (
  SFUNC = "slipstream_jsonb_add",
  STYPE = JSONB,
  INITCOND = '{}'
);

-- CreateTable
CREATE TABLE "TelemetrySecond" (
    "tenantId" UUID NOT NULL,
    "vipId" UUID NOT NULL,
    "second" TIMESTAMPTZ(0) NOT NULL,
    "packetsMux" BIGINT NOT NULL DEFAULT 0,
    "packetsDirect" BIGINT NOT NULL DEFAULT 0,
    "bytesMux" BIGINT NOT NULL DEFAULT 0,
    "bytesDirect" BIGINT NOT NULL DEFAULT 0,
    "flowsNew" BIGINT NOT NULL DEFAULT 0,
    "flowsBypassed" BIGINT NOT NULL DEFAULT 0,
    "redirectsSent" BIGINT NOT NULL DEFAULT 0,
    "redirectsRejected" JSONB NOT NULL DEFAULT '{}',
    "ttbBuckets" JSONB NOT NULL DEFAULT '{}',
    "ttbSumMs" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "ttbCount" BIGINT NOT NULL DEFAULT 0,
    "bypassEntries" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "TelemetrySecond_pkey" PRIMARY KEY ("tenantId","vipId","second")
);

-- CreateTable
CREATE TABLE "TelemetryMinute" (
    "tenantId" UUID NOT NULL,
    "vipId" UUID NOT NULL,
    "minute" TIMESTAMPTZ(0) NOT NULL,
    "packetsMux" BIGINT NOT NULL DEFAULT 0,
    "packetsDirect" BIGINT NOT NULL DEFAULT 0,
    "bytesMux" BIGINT NOT NULL DEFAULT 0,
    "bytesDirect" BIGINT NOT NULL DEFAULT 0,
    "flowsNew" BIGINT NOT NULL DEFAULT 0,
    "flowsBypassed" BIGINT NOT NULL DEFAULT 0,
    "redirectsSent" BIGINT NOT NULL DEFAULT 0,
    "redirectsRejected" JSONB NOT NULL DEFAULT '{}',
    "ttbBuckets" JSONB NOT NULL DEFAULT '{}',
    "ttbSumMs" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "ttbCount" BIGINT NOT NULL DEFAULT 0,
    "bypassEntries" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "TelemetryMinute_pkey" PRIMARY KEY ("tenantId","vipId","minute")
);

-- CreateTable
CREATE TABLE "BackendHealthReport" (
    "backendId" UUID NOT NULL,
    "agentId" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "healthy" BOOLEAN NOT NULL,
    "reason" TEXT,
    "reportedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "BackendHealthReport_pkey" PRIMARY KEY ("backendId","agentId")
);

-- CreateTable
CREATE TABLE "BackendHealth" (
    "backendId" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "health" TEXT NOT NULL,
    "checkedAt" TIMESTAMPTZ(3) NOT NULL,
    "changedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "BackendHealth_pkey" PRIMARY KEY ("backendId")
);

-- CreateIndex
CREATE INDEX "TelemetrySecond_second_idx" ON "TelemetrySecond"("second");

-- CreateIndex
CREATE INDEX "TelemetryMinute_minute_idx" ON "TelemetryMinute"("minute");

-- CreateIndex
CREATE INDEX "BackendHealthReport_tenantId_idx" ON "BackendHealthReport"("tenantId");

-- CreateIndex
CREATE INDEX "BackendHealth_tenantId_idx" ON "BackendHealth"("tenantId");

-- AddForeignKey
ALTER TABLE "BackendHealthReport" ADD CONSTRAINT "BackendHealthReport_backendId_fkey" FOREIGN KEY ("backendId") REFERENCES "Backend"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "BackendHealth" ADD CONSTRAINT "BackendHealth_backendId_fkey" FOREIGN KEY ("backendId") REFERENCES "Backend"("id") ON DELETE CASCADE ON UPDATE CASCADE;
