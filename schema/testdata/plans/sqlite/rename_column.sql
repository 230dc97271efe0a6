-- up
ALTER TABLE "posts" RENAME COLUMN "title" TO "headline";
-- down
ALTER TABLE "posts" RENAME COLUMN "headline" TO "title";
