CREATE TABLE "accounts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "accounts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"credential_id" bigint NOT NULL,
	"owner_user_id" bigint NOT NULL,
	"broker_account_id" text NOT NULL,
	"name" text NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"multiplier" double precision DEFAULT 1 NOT NULL,
	"max_quantity" integer,
	"max_position" integer,
	"symbol_map" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"group_name" text,
	"trading_window" jsonb,
	"bracket_policy" text DEFAULT 'keep' NOT NULL,
	"unmanaged_policy" text DEFAULT 'report' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_credential_id_broker_account_id_unique" UNIQUE("credential_id","broker_account_id"),
	CONSTRAINT "accounts_multiplier_check" CHECK ("accounts"."multiplier" > 0),
	CONSTRAINT "accounts_max_quantity_check" CHECK ("accounts"."max_quantity" > 0),
	CONSTRAINT "accounts_max_position_check" CHECK ("accounts"."max_position" > 0),
	CONSTRAINT "accounts_bracket_policy_check" CHECK ("accounts"."bracket_policy" in ('keep', 'require')),
	CONSTRAINT "accounts_unmanaged_policy_check" CHECK ("accounts"."unmanaged_policy" in ('report', 'flatten'))
);
--> statement-breakpoint
CREATE TABLE "credentials" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "credentials_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner_user_id" bigint NOT NULL,
	"broker" text NOT NULL,
	"environment" text NOT NULL,
	"kind" text NOT NULL,
	"label" text NOT NULL,
	"secret_ciphertext" text NOT NULL,
	"token_expires_at" timestamp with time zone,
	"token_source" text,
	"state" text DEFAULT 'ok' NOT NULL,
	"state_reason" text,
	"locked_at" timestamp with time zone,
	"broker_user_id" text,
	"next_refresh_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credentials_broker_check" CHECK ("credentials"."broker" in ('paper', 'tradovate')),
	CONSTRAINT "credentials_environment_check" CHECK ("credentials"."environment" in ('demo', 'live', 'paper')),
	CONSTRAINT "credentials_kind_check" CHECK ("credentials"."kind" in ('oauth', 'api_key')),
	CONSTRAINT "credentials_state_check" CHECK ("credentials"."state" in ('ok', 'needs_reauth', 'locked')),
	CONSTRAINT "credentials_token_source_check" CHECK ("credentials"."token_source" in ('cache', 'stored', 'renewed', 'login', 'oauth'))
);
--> statement-breakpoint
CREATE TABLE "channel_providers" (
	"channel_id" bigint NOT NULL,
	"user_id" bigint NOT NULL,
	CONSTRAINT "channel_providers_channel_id_user_id_pk" PRIMARY KEY("channel_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "channels" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "channels_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"platform" text NOT NULL,
	"chat_id" text NOT NULL,
	"role" text NOT NULL,
	"title" text,
	"report_channel_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "channels_platform_chat_id_role_unique" UNIQUE("platform","chat_id","role"),
	CONSTRAINT "channels_platform_check" CHECK ("channels"."platform" in ('discord', 'telegram', 'console', 'webhook')),
	CONSTRAINT "channels_role_check" CHECK ("channels"."role" in ('signal', 'report'))
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"account_id" bigint NOT NULL,
	"channel_id" bigint NOT NULL,
	"report_private" boolean DEFAULT false NOT NULL,
	CONSTRAINT "subscriptions_account_id_channel_id_pk" PRIMARY KEY("account_id","channel_id")
);
--> statement-breakpoint
CREATE TABLE "order_journal" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "order_journal_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"signal_id" bigint NOT NULL,
	"account_id" bigint NOT NULL,
	"client_order_id" text NOT NULL,
	"leg" text NOT NULL,
	"seq" integer NOT NULL,
	"state" text NOT NULL,
	"plan" jsonb NOT NULL,
	"broker_order_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "order_journal_client_order_id_unique" UNIQUE("client_order_id"),
	CONSTRAINT "order_journal_leg_check" CHECK ("order_journal"."leg" in ('entry', 'exit', 'take_profit', 'stop_loss', 'cancel', 'liquidate')),
	CONSTRAINT "order_journal_state_check" CHECK ("order_journal"."state" in ('planned', 'sending', 'acked', 'rejected', 'unknown', 'reconciled', 'skipped')),
	CONSTRAINT "order_journal_seq_check" CHECK ("order_journal"."seq" >= 0)
);
--> statement-breakpoint
CREATE TABLE "signals" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "signals_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"dedup_key" text NOT NULL,
	"source" text NOT NULL,
	"principal" jsonb NOT NULL,
	"body" jsonb NOT NULL,
	"status" text DEFAULT 'received' NOT NULL,
	"summary" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "signals_dedup_key_unique" UNIQUE("dedup_key"),
	CONSTRAINT "signals_source_check" CHECK ("signals"."source" in ('command', 'channel', 'alert', 'webhook')),
	CONSTRAINT "signals_status_check" CHECK ("signals"."status" in ('received', 'executing', 'done', 'rejected', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"subject" text NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cron_runs" (
	"key" text PRIMARY KEY NOT NULL,
	"claimed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"instance" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "identities" (
	"platform" text NOT NULL,
	"external_id" text NOT NULL,
	"user_id" bigint NOT NULL,
	"linked_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "identities_platform_external_id_unique" UNIQUE("platform","external_id"),
	CONSTRAINT "identities_platform_check" CHECK ("identities"."platform" in ('discord', 'telegram', 'console', 'webhook'))
);
--> statement-breakpoint
CREATE TABLE "user_roles" (
	"user_id" bigint NOT NULL,
	"role" text NOT NULL,
	"granted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"granted_by" bigint,
	CONSTRAINT "user_roles_user_id_role_pk" PRIMARY KEY("user_id","role"),
	CONSTRAINT "user_roles_role_check" CHECK ("user_roles"."role" in ('admin', 'provider', 'trader', 'viewer'))
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "users_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"display_name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_credential_id_credentials_id_fk" FOREIGN KEY ("credential_id") REFERENCES "public"."credentials"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_owner_user_id_users_id_fk" FOREIGN KEY ("owner_user_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credentials" ADD CONSTRAINT "credentials_owner_user_id_users_id_fk" FOREIGN KEY ("owner_user_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_providers" ADD CONSTRAINT "channel_providers_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_providers" ADD CONSTRAINT "channel_providers_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channels" ADD CONSTRAINT "channels_report_channel_id_channels_id_fk" FOREIGN KEY ("report_channel_id") REFERENCES "public"."channels"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "order_journal" ADD CONSTRAINT "order_journal_signal_id_signals_id_fk" FOREIGN KEY ("signal_id") REFERENCES "public"."signals"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "order_journal" ADD CONSTRAINT "order_journal_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "identities" ADD CONSTRAINT "identities_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_roles" ADD CONSTRAINT "user_roles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_roles" ADD CONSTRAINT "user_roles_granted_by_users_id_fk" FOREIGN KEY ("granted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "accounts_owner_user_id_idx" ON "accounts" USING btree ("owner_user_id");--> statement-breakpoint
CREATE INDEX "credentials_owner_user_id_idx" ON "credentials" USING btree ("owner_user_id");--> statement-breakpoint
CREATE INDEX "credentials_next_refresh_at_idx" ON "credentials" USING btree ("next_refresh_at");--> statement-breakpoint
CREATE INDEX "channel_providers_user_id_idx" ON "channel_providers" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "subscriptions_channel_id_idx" ON "subscriptions" USING btree ("channel_id");--> statement-breakpoint
CREATE INDEX "order_journal_state_idx" ON "order_journal" USING btree ("state");--> statement-breakpoint
CREATE INDEX "order_journal_signal_id_idx" ON "order_journal" USING btree ("signal_id");--> statement-breakpoint
CREATE INDEX "order_journal_account_id_idx" ON "order_journal" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "audit_events_at_idx" ON "audit_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "identities_user_id_idx" ON "identities" USING btree ("user_id");