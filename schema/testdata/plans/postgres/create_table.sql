-- up
CREATE TABLE "comments" ("id" uuid NOT NULL, "owner_id" uuid, "created_at" timestamp with time zone NOT NULL, "updated_at" timestamp with time zone NOT NULL, "body" text COLLATE "C" NOT NULL, "rating" integer, PRIMARY KEY ("id"));
CREATE INDEX "strata_ix_922d1ca040ca" ON "comments" ("rating", "id");
ALTER TABLE "comments" ADD COLUMN "post" uuid;
CREATE INDEX "strata_ix_7b4fc008a873" ON "comments" ("post", "id");
ALTER TABLE "comments" ADD CONSTRAINT "strata_fk_3c0af0dec8b2" FOREIGN KEY ("post") REFERENCES "posts" ("id") ON DELETE CASCADE;
-- down
ALTER TABLE "comments" DROP CONSTRAINT "strata_fk_3c0af0dec8b2";
DROP INDEX "strata_ix_7b4fc008a873";
ALTER TABLE "comments" DROP COLUMN "post";
DROP INDEX "strata_ix_922d1ca040ca";
DROP TABLE "comments" CASCADE;
