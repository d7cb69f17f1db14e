ALTER TABLE "signals" ADD COLUMN "totals" json;--> statement-breakpoint
UPDATE "signals" SET "totals" = ("summary"::jsonb - 'outcomes')::json WHERE "summary" IS NOT NULL;