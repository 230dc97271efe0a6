-- up
CREATE TABLE "posts_editors" ("id" uuid NOT NULL, "owner_id" uuid, "created_at" timestamp with time zone NOT NULL, "updated_at" timestamp with time zone NOT NULL, "posts_id" uuid NOT NULL, "authors_id" uuid NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "strata_ix_e68fba2590ba" ON "posts_editors" ("authors_id", "id");
CREATE UNIQUE INDEX "strata_ux_c0201f7ce80f" ON "posts_editors" ("posts_id", "authors_id");
ALTER TABLE "posts_editors" ADD CONSTRAINT "strata_fk_c0201f7ce80f_a" FOREIGN KEY ("posts_id") REFERENCES "posts" ("id") ON DELETE CASCADE;
ALTER TABLE "posts_editors" ADD CONSTRAINT "strata_fk_c0201f7ce80f_b" FOREIGN KEY ("authors_id") REFERENCES "authors" ("id") ON DELETE CASCADE;
-- down
ALTER TABLE "posts_editors" DROP CONSTRAINT "strata_fk_c0201f7ce80f_b";
ALTER TABLE "posts_editors" DROP CONSTRAINT "strata_fk_c0201f7ce80f_a";
DROP INDEX "strata_ux_c0201f7ce80f";
DROP INDEX "strata_ix_e68fba2590ba";
DROP TABLE "posts_editors" CASCADE;
