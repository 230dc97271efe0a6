-- up
CREATE TABLE "posts_editors" ("id" UUID NOT NULL, "owner_id" UUID, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "posts_id" UUID NOT NULL, "authors_id" UUID NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "strata_fk_c0201f7ce80f_a" FOREIGN KEY ("posts_id") REFERENCES "posts" ("id") ON DELETE CASCADE, CONSTRAINT "strata_fk_c0201f7ce80f_b" FOREIGN KEY ("authors_id") REFERENCES "authors" ("id") ON DELETE CASCADE);
CREATE INDEX "strata_ix_e68fba2590ba" ON "posts_editors" ("authors_id", "id");
CREATE UNIQUE INDEX "strata_ux_c0201f7ce80f" ON "posts_editors" ("posts_id", "authors_id");
-- down
DROP INDEX "strata_ux_c0201f7ce80f";
DROP INDEX "strata_ix_e68fba2590ba";
DROP TABLE "posts_editors";
