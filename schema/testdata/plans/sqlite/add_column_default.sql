-- up
ALTER TABLE "posts" ADD COLUMN "published" BOOLEAN NOT NULL DEFAULT 0;
-- down
ALTER TABLE "posts" DROP COLUMN "published";
