CREATE TABLE "chat_inbox" (
	"inbox" text NOT NULL,
	"update_id" bigint NOT NULL,
	"body" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"handled_at" timestamp with time zone,
	CONSTRAINT "chat_inbox_inbox_update_id_pk" PRIMARY KEY("inbox","update_id")
);
--> statement-breakpoint
CREATE INDEX "chat_inbox_pending_idx" ON "chat_inbox" USING btree ("inbox","update_id") WHERE "chat_inbox"."handled_at" is null;