-- up
ALTER TABLE "posts" ADD COLUMN "code" character varying(20) COLLATE "C";
CREATE UNIQUE INDEX "strata_ix_c0201f7ce80f" ON "posts" ("code");
-- down
DROP INDEX "strata_ix_c0201f7ce80f";
ALTER TABLE "posts" DROP COLUMN "code";
