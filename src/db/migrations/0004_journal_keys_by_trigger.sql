ALTER TABLE "order_journal" DROP CONSTRAINT "order_journal_signal_id_signals_id_fk";
--> statement-breakpoint
ALTER TABLE "order_journal" DROP CONSTRAINT "order_journal_account_id_accounts_id_fk";
--> statement-breakpoint
CREATE FUNCTION "public"."order_journal_keeps_named"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (TG_TABLE_NAME = 'accounts' AND EXISTS (SELECT 1 FROM "public"."order_journal" WHERE "account_id" = OLD."id"))
		OR (TG_TABLE_NAME = 'signals' AND EXISTS (SELECT 1 FROM "public"."order_journal" WHERE "signal_id" = OLD."id")) THEN
		RAISE EXCEPTION '% % is named by the order journal and cannot be deleted', rtrim(TG_TABLE_NAME, 's'), OLD."id"
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN OLD;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "accounts_keep_journaled" BEFORE DELETE ON "public"."accounts"
	FOR EACH ROW EXECUTE FUNCTION "public"."order_journal_keeps_named"();
--> statement-breakpoint
CREATE TRIGGER "signals_keep_journaled" BEFORE DELETE ON "public"."signals"
	FOR EACH ROW EXECUTE FUNCTION "public"."order_journal_keeps_named"();
