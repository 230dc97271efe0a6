-- up
ALTER TABLE "posts" ADD COLUMN "code" VARCHAR(20) CHECK (length("code") <= 20);
CREATE UNIQUE INDEX "strata_ix_c0201f7ce80f" ON "posts" ("code");
-- down
DROP INDEX "strata_ix_c0201f7ce80f";
ALTER TABLE "posts" DROP COLUMN "code";
