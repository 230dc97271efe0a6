-- up
ALTER TABLE "posts" ADD COLUMN "subtitle" VARCHAR(120) CHECK (length("subtitle") <= 120);
-- down
ALTER TABLE "posts" DROP COLUMN "subtitle";
