-- up
CREATE TABLE "comments" ("id" UUID NOT NULL, "owner_id" UUID, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "body" TEXT NOT NULL, "rating" INTEGER, PRIMARY KEY ("id"));
CREATE INDEX "strata_ix_922d1ca040ca" ON "comments" ("rating", "id");
CREATE TABLE "_strata_tmp_comments" ("id" UUID NOT NULL, "owner_id" UUID, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "body" TEXT NOT NULL, "rating" INTEGER, "post" UUID, PRIMARY KEY ("id"), CONSTRAINT "strata_fk_3c0af0dec8b2" FOREIGN KEY ("post") REFERENCES "posts" ("id") ON DELETE CASCADE);
INSERT INTO "_strata_tmp_comments" ("id", "owner_id", "created_at", "updated_at", "body", "rating") SELECT "id", "owner_id", "created_at", "updated_at", "body", "rating" FROM "comments";
DROP TABLE "comments";
ALTER TABLE "_strata_tmp_comments" RENAME TO "comments";
CREATE INDEX "strata_ix_922d1ca040ca" ON "comments" ("rating", "id");
CREATE INDEX "strata_ix_7b4fc008a873" ON "comments" ("post", "id");
-- down
CREATE TABLE "_strata_tmp_comments" ("id" UUID NOT NULL, "owner_id" UUID, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "body" TEXT NOT NULL, "rating" INTEGER, PRIMARY KEY ("id"));
INSERT INTO "_strata_tmp_comments" ("id", "owner_id", "created_at", "updated_at", "body", "rating") SELECT "id", "owner_id", "created_at", "updated_at", "body", "rating" FROM "comments";
DROP TABLE "comments";
ALTER TABLE "_strata_tmp_comments" RENAME TO "comments";
CREATE INDEX "strata_ix_922d1ca040ca" ON "comments" ("rating", "id");
DROP INDEX "strata_ix_922d1ca040ca";
DROP TABLE "comments";
