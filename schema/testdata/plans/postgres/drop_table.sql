-- up
ALTER TABLE "posts" DROP CONSTRAINT "strata_fk_97e5becc0f2f";
DROP INDEX "strata_ix_1fb730f150d3";
ALTER TABLE "posts" RENAME COLUMN "author" TO "strata_del_c0201f7ce80f";
DROP INDEX "posts_status_created_at_idx";
ALTER TABLE "posts" RENAME TO "strata_del_ffc58c36d8ba";
-- down
ALTER TABLE "strata_del_ffc58c36d8ba" RENAME TO "posts";
CREATE INDEX "posts_status_created_at_idx" ON "posts" ("status", "created_at");
ALTER TABLE "posts" RENAME COLUMN "strata_del_c0201f7ce80f" TO "author";
CREATE INDEX "strata_ix_1fb730f150d3" ON "posts" ("author", "id");
ALTER TABLE "posts" ADD CONSTRAINT "strata_fk_97e5becc0f2f" FOREIGN KEY ("author") REFERENCES "authors" ("id") ON DELETE SET NULL;
