CREATE TABLE "chat_inbox" (
	"platform" text NOT NULL,
	"update_id" bigint NOT NULL,
	"body" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"handled_at" timestamp with time zone,
	CONSTRAINT "chat_inbox_platform_update_id_pk" PRIMARY KEY("platform","update_id")
);
--> statement-breakpoint
CREATE INDEX "chat_inbox_pending_idx" ON "chat_inbox" USING btree ("platform","update_id") WHERE "chat_inbox"."handled_at" is null;