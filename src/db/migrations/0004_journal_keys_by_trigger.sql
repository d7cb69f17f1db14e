ALTER TABLE "order_journal" DROP CONSTRAINT "order_journal_signal_id_signals_id_fk";
--> statement-breakpoint
ALTER TABLE "order_journal" DROP CONSTRAINT "order_journal_account_id_accounts_id_fk";
--> statement-breakpoint
CREATE FUNCTION "public"."order_journal_keeps_account"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM "public"."order_journal" WHERE "account_id" = OLD."id") THEN
		RAISE EXCEPTION 'account % is named by the order journal and cannot be deleted', OLD."id"
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN OLD;
END
$$;
--> statement-breakpoint
CREATE FUNCTION "public"."order_journal_keeps_signal"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM "public"."order_journal" WHERE "signal_id" = OLD."id") THEN
		RAISE EXCEPTION 'signal % is named by the order journal and cannot be deleted', OLD."id"
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN OLD;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "accounts_keep_journaled" BEFORE DELETE ON "public"."accounts"
	FOR EACH ROW EXECUTE FUNCTION "public"."order_journal_keeps_account"();
--> statement-breakpoint
CREATE TRIGGER "signals_keep_journaled" BEFORE DELETE ON "public"."signals"
	FOR EACH ROW EXECUTE FUNCTION "public"."order_journal_keeps_signal"();
